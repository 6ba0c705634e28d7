"""The page's pure logic (status words, quantities, ownership, selectors, YAML-edit rebasing),
run under node as the same ES modules the browser loads. Skips without node."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tugboat.dashboard.assets import STATIC

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_js(body: str) -> object:
    js = STATIC / "js"
    src = (f"import * as ui from '{(js / 'ui.js').as_uri()}';\n"
           f"import * as wl from '{(js / 'views' / 'workloads.js').as_uri()}';\n"
           f"import * as ov from '{(js / 'views' / 'overview.js').as_uri()}';\n"
           f"import * as dom from '{(js / 'dom.js').as_uri()}';\n"
           f"const out = await (async () => {{ {body} }})();\nconsole.log(JSON.stringify(out));\n")
    assert NODE is not None
    p = subprocess.run([NODE, "--input-type=module", "-e", src], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_pod_status_is_what_kubectl_shows() -> None:
    got = run_js("""
      const pod = (status, extra = {}) => ({ metadata: { name: 'p', ...extra }, spec: {}, status });
      return [
        ui.podStatus(pod({ phase: 'Running', containerStatuses: [{ state: { running: {} } }] })),
        ui.podStatus(pod({ phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff' } } }] })),
        ui.podStatus(pod({ phase: 'Running', containerStatuses: [{ state: { terminated: { reason: 'OOMKilled' } } }] })),
        ui.podStatus(pod({ phase: 'Succeeded', containerStatuses: [{ state: { terminated: { reason: 'Completed' } } }] })),
        ui.podStatus(pod({ phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:00Z' })),
        ui.podStatus(pod({ phase: 'Failed', reason: 'Evicted' })),
        ui.restarts(pod({ containerStatuses: [{ restartCount: 2 }, { restartCount: 3 }] })),
        ui.esc('<img src=x onerror="1">'),
      ];""")
    assert got == ["Running", "ImagePullBackOff", "OOMKilled", "Succeeded", "Terminating", "Evicted", 5,
                   "&lt;img src=x onerror=&quot;1&quot;&gt;"]


def test_quantities() -> None:
    assert run_js("return [ui.qty('250m'), ui.qty('2'), ui.qty('64Mi'), ui.qty('1G'), ui.qty(''), "
                  "ui.fmtCpu(0.25), ui.fmtMem(1536 * 1024 * 1024)];") == [
        0.25, 2, 64 * 1024 * 1024, 1e9, 0, "250m", "1.5Gi"]


def test_node_allocation_counts_requests_of_running_pods_only() -> None:
    got = run_js("""
      const p = (node, cpu, phase) => ({ metadata: {}, spec: { nodeName: node,
        containers: [{ resources: { requests: { cpu, memory: '1Gi' } } }] }, status: { phase } });
      const m = ov.requestsByNode([p('a', '500m', 'Running'), p('a', '250m', 'Pending'), p('a', '4', 'Succeeded'),
                                   p('b', '1', 'Running'), p('', '1', 'Pending')]);
      return [m.get('a'), m.get('b'), m.has('')];""")
    assert got == [{"cpu": 0.75, "mem": 2 * 1024 ** 3, "pods": 2}, {"cpu": 1, "mem": 1024 ** 3, "pods": 1}, False]


def test_owner_index_follows_controller_refs_and_service_selectors() -> None:
    got = run_js("""
      const o = (name, refs) => ({ metadata: { name, ownerReferences: refs } });
      const idx = wl.byOwner([o('a', [{ uid: 'rs1', controller: true }]), o('b', [{ uid: 'rs1', controller: false }]),
                              o('c', [{ uid: 'rs2', controller: true }]), o('d')]);
      return [(idx.get('rs1') || []).map(x => x.metadata.name), (idx.get('rs2') || []).length,
              wl.selects({ app: 'web' }, { app: 'web', tier: 'x' }), wl.selects({ app: 'web' }, { app: 'db' }),
              wl.selects({}, { app: 'web' }), wl.selects(undefined, { app: 'web' })];""")
    assert got == [["a"], 1, True, False, False, False]


def test_tree_nests_deployment_replicaset_pods_containers() -> None:
    got = run_js("""
      const dep = { metadata: { name: 'web', namespace: 'n', uid: 'd1' }, spec: { replicas: 2 }, status: { readyReplicas: 1 } };
      const rs = { metadata: { name: 'web-1', namespace: 'n', uid: 'r1', ownerReferences: [{ uid: 'd1', controller: true }],
                   annotations: { 'deployment.kubernetes.io/revision': '3' } }, spec: { replicas: 2 }, status: { readyReplicas: 1 } };
      const pod = (name) => ({ metadata: { name, namespace: 'n', uid: name, ownerReferences: [{ uid: 'r1', controller: true }] },
        spec: { containers: [{ name: 'app', image: 'busybox' }] }, status: { phase: 'Running' } });
      const data = { deployments: [dep], replicasets: [rs], pods: [pod('web-1-a'), pod('web-1-b')] };
      const c = { col: (k) => ({ list: () => data[k] || [] }) };
      const html = dom.toHtml(wl.buildTree(c, 'n', new Set()));
      const dPos = html.indexOf('data-obj="Deployment/web"'), rPos = html.indexOf('data-obj="ReplicaSet/web-1"');
      const pPos = html.indexOf('data-pod="web-1-a"');
      return [dPos >= 0 && dPos < rPos && rPos < pPos, (html.match(/data-pod=/g) || []).length,
              html.includes('data-replicas="1/2"'), html.includes('revision 3'), html.includes('#/logs/n/web-1-a/app')];""")
    assert got == [True, 2, True, True, True]


def test_yaml_edit_rebases_only_over_status_changes() -> None:
    detail = (STATIC / "js" / "views" / "detail.js").as_uri()
    got = run_js(f"""
      const d = await import('{detail}');
      const base = {{ metadata: {{ name: 'x', resourceVersion: '5', generation: 1, managedFields: [{{}}] }},
                     spec: {{ replicas: 1 }}, status: {{ replicas: 0 }} }};
      const statusOnly = {{ ...base, metadata: {{ ...base.metadata, resourceVersion: '6' }}, status: {{ replicas: 1 }} }};
      const specChanged = {{ ...statusOnly, spec: {{ replicas: 3 }} }};
      const yaml = d.yamlOf(base);
      return [d.userFields(base) === d.userFields(statusOnly), d.userFields(base) === d.userFields(specChanged),
              yaml.includes('managedFields'), yaml.includes('replicas: 1')];""")
    assert got == [True, False, False, True]


def test_tree_nodes_have_unique_keys_and_nest_kids_in_their_slot() -> None:
    got = run_js("""
      const dep = { metadata: { name: 'web', namespace: 'n', uid: 'd1' }, spec: { replicas: 1 }, status: {} };
      const rs = { metadata: { name: 'web-1', namespace: 'n', uid: 'r1', ownerReferences: [{ uid: 'd1', controller: true }] },
                   spec: { replicas: 1 }, status: {} };
      const pod = { metadata: { name: 'web-1-a', namespace: 'n', uid: 'p1', ownerReferences: [{ uid: 'r1', controller: true }] },
        spec: { containers: [] }, status: {} };
      const data = { deployments: [dep], replicasets: [rs], pods: [pod] };
      const c = { col: (k) => ({ list: () => data[k] || [] }) };
      const tree = wl.buildTree(c, 'n', new Set(['closed:r1']));
      const uniq = (ns) => new Set(ns.map((n) => n.key)).size === ns.length
        && ns.every((n) => !n.kids || uniq(n.kids));
      const deps = tree.find((s) => s.key === 'Deployments');
      const d = deps.kids[0], r = d.kids[0];
      const html = dom.toHtml([d]);
      return [uniq(tree), d.key, d.open, r.key, r.open, r.kids[0].key, (html.match(/data-kids/g) || []).length,
              html.indexOf('data-obj="ReplicaSet/web-1"') < html.indexOf('data-pod="web-1-a"'),
              d.html.includes('web-1-a'), tree.find((s) => s.key === 'Jobs').kids[0].key];""")
    # a group's own html never holds its children: a pod change cannot force its Deployment's re-parse
    assert got == [True, "d1", True, "r1", False, "p1", 2, True, False, "none"]


def test_long_pod_lists_are_paged_until_the_user_asks_for_all() -> None:
    got = run_js("""
      const pods = Array.from({ length: 60 }, (_, i) => ({ metadata: { name: 'p' + i, namespace: 'n', uid: 'u' + i },
        spec: { containers: [] }, status: { phase: 'Running' } }));
      const count = (nodes) => (dom.toHtml(nodes).match(/data-pod=/g) || []).length;
      const has = (nodes, s) => dom.toHtml(nodes).includes(s);
      const paged = wl.pods_(pods, 'rs1', new Set()), all = wl.pods_(pods, 'rs1', new Set(['all:rs1']));
      return [count(paged), has(paged, 'Show all 60 pods'), count(all), has(all, 'Show all'),
              count(wl.pods_(pods.slice(0, 5), 'x', new Set()))];""")
    assert got == [50, True, 60, False, 5]


def test_a_one_namespace_context_lists_namespaced_kinds_in_it() -> None:
    js = STATIC / "js"
    got = run_js(f"""
      const cache = await import('{(js / 'cache.js').as_uri()}');
      const api = {{ get: () => new Promise(() => {{}}) }};  // lists never answer: only the paths matter
      const scoped = new cache.Cluster(api, 'team-a'), all = new cache.Cluster(api);
      return [scoped.col('pods').path, scoped.col('deployments').path, scoped.col('nodes').path,
              scoped.col('namespaces').path, all.col('pods').path];""")
    assert got == ["/api/v1/namespaces/team-a/pods", "/apis/apps/v1/namespaces/team-a/deployments", "/api/v1/nodes",
                   "/api/v1/namespaces", "/api/v1/pods"]


def test_the_cors_flag_suggested_admits_exactly_this_origin() -> None:
    js = STATIC / "js"
    got = run_js(f"""
      const api = await import('{(js / 'api.js').as_uri()}');
      const re = new RegExp(api.corsRegex('https://127.0.0.1:6443'));
      return [api.corsRegex('https://127.0.0.1:6443'), re.test('https://127.0.0.1:6443'),
              re.test('https://127.0.0.1:64430'), re.test('https://127a0a0a1:6443')];""")
    assert got == [r"^https://127\.0\.0\.1:6443$", True, False, False]


def test_kubeconfig_contexts_with_tokens_are_imported() -> None:
    js = STATIC / "js" / "contexts.js"
    src = (f"import {{ fromKubeconfig }} from '{js.as_uri()}';\n"
           "const doc = { 'current-context': 'gone', clusters: [{ name: 'a', cluster: { server: 'https://a:6443' } }],\n"
           "  users: [{ name: 't', user: { token: 'T' } }, { name: 'c', user: { 'client-certificate-data': 'X' } }],\n"
           "  contexts: [{ name: 'one', context: { cluster: 'a', user: 't', namespace: 'dev' } },\n"
           "             { name: 'two', context: { cluster: 'a', user: 'c' } },\n"
           "             { name: 'three', context: { cluster: 'missing', user: 't' } }] };\n"
           "console.log(JSON.stringify([fromKubeconfig(doc), fromKubeconfig(null)]));\n")
    assert NODE is not None
    p = subprocess.run([NODE, "--input-type=module", "-e", src], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got, empty = json.loads(p.stdout)
    assert got["imported"] == [{"name": "one", "server": "https://a:6443", "namespace": "dev", "token": "T"}]
    assert got["skipped"] == [{"name": "two", "why": "its user has no bearer token"},
                              {"name": "three", "why": "no cluster server"}]
    assert got["current"] == "one"  # the kubeconfig's current context is not importable: the first one
    assert empty == {"imported": [], "skipped": [], "current": ""}
