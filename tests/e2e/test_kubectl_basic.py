"""The real kubectl against a real `tug server`: the everyday commands and their output."""

from __future__ import annotations

import json
import time

import yaml

from .conftest import TugServer

pytestmark = __import__("pytest").mark.e2e


def test_version_reports_1_32(tug: TugServer) -> None:
    out = tug.kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert server["major"] == "1" and server["minor"] == "32"


def test_system_namespaces_exist(tug: TugServer) -> None:
    out = tug.kubectl("get", "namespaces").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    names = {line.split()[0]: line.split()[1] for line in lines[1:]}
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert names.get(ns) == "Active"


def test_api_resources_lists_builtin_kinds(tug: TugServer) -> None:
    out = tug.kubectl("api-resources").stdout
    rows: dict[str, str] = {}
    for line in out.splitlines()[1:]:  # first row per name: metrics.k8s.io also has "pods" and "nodes"
        rows.setdefault(line.split()[0], line)
    assert "po" in rows["pods"].split()
    assert "deploy" in rows["deployments"].split() and "apps/v1" in rows["deployments"]
    assert "customresourcedefinitions" in rows
    assert "horizontalpodautoscalers" in rows and "autoscaling/v2" in rows["horizontalpodautoscalers"]
    assert "false" in rows["nodes"].split()  # cluster-scoped


def test_create_configmap_secret_and_get_formats(tug: TugServer, ns: str) -> None:
    assert tug.kubectl("-n", ns, "create", "configmap", "cfg", "--from-literal=a=1",
                       "--from-literal=b=two").stdout.strip() == "configmap/cfg created"
    assert tug.kubectl("-n", ns, "create", "secret", "generic", "sec",
                       "--from-literal=password=s3cr3t").stdout.strip() == "secret/sec created"
    cm = json.loads(tug.kubectl("-n", ns, "get", "configmap", "cfg", "-o", "json").stdout)
    assert cm["data"] == {"a": "1", "b": "two"}
    assert cm["metadata"]["resourceVersion"] and cm["metadata"]["uid"]
    y = yaml.safe_load(tug.kubectl("-n", ns, "get", "cm", "cfg", "-o", "yaml").stdout)
    assert y["kind"] == "ConfigMap" and y["metadata"]["namespace"] == ns
    assert tug.kubectl("-n", ns, "get", "secret", "sec", "-o", "jsonpath={.data.password}").stdout == "czNjcjN0"
    table = tug.kubectl("-n", ns, "get", "configmaps").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert table[1].split()[:2] == ["cfg", "2"]
    sec = tug.kubectl("-n", ns, "get", "secrets").stdout.splitlines()
    assert sec[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert sec[1].split()[:3] == ["sec", "Opaque", "1"]


def test_get_all_namespaces_and_label_selector(tug: TugServer, ns: str) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        tug.kubectl("-n", ns, "create", "configmap", name)
        tug.kubectl("-n", ns, "label", "configmap", name, f"tier={tier}")
    web = tug.kubectl("-n", ns, "get", "cm", "-l", "tier=web", "-o", "name").stdout.split()
    assert web == ["configmap/a", "configmap/c"]
    notweb = tug.kubectl("-n", ns, "get", "cm", "-l", "tier!=web,tier", "-o", "name").stdout.split()
    assert notweb == ["configmap/b"]
    everywhere = tug.kubectl("get", "cm", "-A", "-l", "tier in (web,db)").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert sorted(line.split()[1] for line in everywhere[1:] if line.split()[0] == ns) == ["a", "b", "c"]
    shown = tug.kubectl("-n", ns, "get", "cm", "a", "--show-labels").stdout.splitlines()
    assert shown[0].split()[-1] == "LABELS" and shown[1].split()[-1] == "tier=web"


def test_label_annotate_and_patch_types(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "create", "configmap", "p", "--from-literal=k=v")
    assert tug.kubectl("-n", ns, "label", "cm", "p", "app=x").stdout.strip() == "configmap/p labeled"
    assert tug.kubectl("-n", ns, "annotate", "cm", "p", "note=hello").stdout.strip() == "configmap/p annotated"
    tug.kubectl("-n", ns, "patch", "cm", "p", "--type=merge", "-p", '{"data":{"m":"merge"}}')
    tug.kubectl("-n", ns, "patch", "cm", "p", "--type=json", "-p",
                '[{"op":"add","path":"/data/j","value":"json"},{"op":"remove","path":"/data/k"}]')
    tug.kubectl("-n", ns, "patch", "cm", "p", "-p", '{"data":{"s":"strategic"}}')
    cm = json.loads(tug.kubectl("-n", ns, "get", "cm", "p", "-o", "json").stdout)
    assert cm["data"] == {"m": "merge", "j": "json", "s": "strategic"}
    assert cm["metadata"]["labels"] == {"app": "x"}
    assert cm["metadata"]["annotations"]["note"] == "hello"
    tug.kubectl("-n", ns, "label", "cm", "p", "app-")
    cm = json.loads(tug.kubectl("-n", ns, "get", "cm", "p", "-o", "json").stdout)
    assert "app" not in (cm["metadata"].get("labels") or {})


def test_strategic_patch_merges_containers_by_name(tug: TugServer, ns: str) -> None:
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "a", "image": "busybox:1"},
                                                      {"name": "b", "image": "busybox:1"}]}}},
    }
    tug.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(deploy))
    tug.kubectl("-n", ns, "patch", "deployment", "web", "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"busybox:2"}]}}}}')
    d = json.loads(tug.kubectl("-n", ns, "get", "deploy", "web", "-o", "json").stdout)
    images = {c["name"]: c["image"] for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"a": "busybox:1", "b": "busybox:2"}
    assert d["metadata"]["generation"] == 2


def test_scale_and_generation(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "create", "deployment", "s", "--image=busybox", "--replicas=1")
    out = tug.kubectl("-n", ns, "scale", "deployment", "s", "--replicas=4").stdout.strip()
    assert out == "deployment.apps/s scaled"
    d = json.loads(tug.kubectl("-n", ns, "get", "deploy", "s", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 4
    assert d["metadata"]["generation"] == 2
    table = tug.kubectl("-n", ns, "get", "deploy", "s").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    wide = tug.kubectl("-n", ns, "get", "deploy", "s", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert "app=s" in wide[1]


def test_describe_deployment(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "create", "deployment", "d", "--image=busybox:1.36")
    out = tug.kubectl("-n", ns, "describe", "deployment", "d").stdout
    assert "Name:" in out and " d\n" in out
    assert f"Namespace:              {ns}" in out
    assert "busybox:1.36" in out
    assert "RollingUpdate" in out


def test_pods_table_and_wide(tug: TugServer, ns: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    tug.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(pod))
    lines = tug.kubectl("-n", ns, "get", "pods").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:4] == ["p", "0/1", "Pending", "0"]
    wide = tug.kubectl("-n", ns, "get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:8] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED"]
    got = json.loads(tug.kubectl("-n", ns, "get", "pod", "p", "-o", "json").stdout)
    assert got["status"]["phase"] == "Pending"
    c = got["spec"]["containers"][0]
    assert c["imagePullPolicy"] == "Always"  # untagged image means :latest
    assert got["spec"]["restartPolicy"] == "Always"
    assert got["spec"]["terminationGracePeriodSeconds"] == 30


def test_get_watch_streams_changes(tug: TugServer, ns: str) -> None:
    proc = tug.kubectl_popen("-n", ns, "get", "configmaps", "-w", "-o", "name")
    try:
        time.sleep(1.0)
        tug.kubectl("-n", ns, "create", "configmap", "watched")
        assert proc.stdout is not None
        deadline = time.monotonic() + 15
        seen = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen += line
            if "configmap/watched" in line:
                break
        assert "configmap/watched" in seen
    finally:
        proc.kill()
        proc.wait()


def test_edit_with_noninteractive_editor(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "create", "configmap", "ed", "--from-literal=color=blue")
    out = tug.kubectl("-n", ns, "edit", "cm", "ed", env={"KUBE_EDITOR": "sed -i s/blue/green/"}).stdout
    assert out.strip() == "configmap/ed edited"
    got = tug.kubectl("-n", ns, "get", "cm", "ed", "-o", "jsonpath={.data.color}").stdout
    assert got == "green"


def test_delete_and_wait_for_delete_with_finalizer(tug: TugServer, ns: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "fin", "finalizers": ["example.com/hold"]}, "data": {"a": "b"}}
    tug.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(cm))
    out = tug.kubectl("-n", ns, "delete", "cm", "fin", "--wait=false").stdout.strip()
    assert out == 'configmap "fin" deleted'
    held = json.loads(tug.kubectl("-n", ns, "get", "cm", "fin", "-o", "json").stdout)
    assert held["metadata"]["deletionTimestamp"]
    waiter = tug.kubectl_popen("-n", ns, "wait", "--for=delete", "cm/fin", "--timeout=30s")
    try:
        time.sleep(1.0)
        assert waiter.poll() is None  # still waiting: the finalizer holds the object
        tug.kubectl("-n", ns, "patch", "cm", "fin", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        assert waiter.wait(timeout=20) == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    gone = tug.kubectl("-n", ns, "get", "cm", "fin", check=False)
    assert gone.returncode != 0 and 'configmaps "fin" not found' in gone.stderr


def test_errors_are_kubernetes_statuses(tug: TugServer, ns: str) -> None:
    missing = tug.kubectl("-n", ns, "get", "cm", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): configmaps "nope" not found'
    manifest = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}'
    tug.kubectl("-n", ns, "create", "-f", "-", input=manifest)
    again = tug.kubectl("-n", ns, "create", "-f", "-", input=manifest, check=False)
    assert 'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dup" already exists' \
        in again.stderr
    # The typed `create configmap` subcommand words the same Status its own way.
    typed = tug.kubectl("-n", ns, "create", "configmap", "dup", check=False)
    assert 'configmaps "dup" already exists' in typed.stderr
    bad = tug.kubectl("-n", ns, "create", "configmap", "Bad_Name", check=False)
    assert bad.returncode == 1
    assert "is invalid" in bad.stderr and "metadata.name" in bad.stderr
    nons = tug.kubectl("-n", "does-not-exist-ns", "create", "configmap", "x", check=False)
    assert 'namespaces "does-not-exist-ns" not found' in nons.stderr


def test_auth_whoami(tug: TugServer) -> None:
    lines = tug.kubectl("auth", "whoami").stdout.splitlines()
    assert lines[1].split() == ["Username", "admin"]
    assert "system:masters" in lines[2]


def test_diff_and_replace(tug: TugServer, ns: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rd", "namespace": ns}, "data": {"a": "1"}}
    tug.kubectl("apply", "-f", "-", input=json.dumps(cm))
    cm["data"]["a"] = "2"
    d = tug.kubectl("diff", "-f", "-", input=json.dumps(cm), check=False)
    assert d.returncode == 1  # kubectl diff exits 1 when there are differences
    assert "-  a: \"1\"" in d.stdout and "+  a: \"2\"" in d.stdout
    assert tug.kubectl("replace", "-f", "-", input=json.dumps(cm)).stdout.strip() == "configmap/rd replaced"
    assert tug.kubectl("-n", ns, "get", "cm", "rd", "-o", "jsonpath={.data.a}").stdout == "2"


def test_namespace_deletion_empties_it(tug: TugServer) -> None:
    tug.kubectl("create", "namespace", "doomed-e2e")
    tug.kubectl("-n", "doomed-e2e", "create", "configmap", "x")
    tug.kubectl("-n", "doomed-e2e", "create", "deployment", "d", "--image=busybox")
    out = tug.kubectl("delete", "namespace", "doomed-e2e", "--timeout=30s").stdout.strip()
    assert out == 'namespace "doomed-e2e" deleted'
    gone = tug.kubectl("get", "namespace", "doomed-e2e", check=False)
    assert gone.returncode != 0 and "not found" in gone.stderr
