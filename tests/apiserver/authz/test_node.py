"""The Node authorizer's graph: a node reads only what pods bound to it reference."""

from __future__ import annotations

from typing import Any

from tugboat.apiserver.authz.attrs import Attrs, Decision
from tugboat.apiserver.authz.bootstrap_roles import NODE_RULES
from tugboat.apiserver.authz.node import NodeAuthorizer, pod_refs
from tugboat.apiserver.request import UserInfo
from tugboat.store.memory import MemoryBackend

N1 = UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))


def pod(name: str, node: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node, **spec}}


def a(verb: str, resource: str, name: str = "", ns: str = "default", sub: str = "", group: str = "") -> Attrs:
    return Attrs(N1, verb, True, ns, group, resource, sub, name)


def authorizer() -> NodeAuthorizer:
    return NodeAuthorizer(MemoryBackend(), "/registry/core/pods/", NODE_RULES)


def test_pod_refs_cover_volumes_env_and_pull_secrets() -> None:
    p = pod("web", "n1", serviceAccountName="sa", imagePullSecrets=[{"name": "pull"}],
            containers=[{"name": "c", "envFrom": [{"configMapRef": {"name": "env-cm"}}],
                         "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-sec", "key": "k"}}}]}],
            volumes=[{"name": "v", "secret": {"secretName": "vol-sec"}},
                     {"name": "p", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}]}},
                     {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
    assert pod_refs(p) == {("serviceaccounts", "default", "sa"), ("secrets", "default", "pull"),
                           ("configmaps", "default", "env-cm"), ("secrets", "default", "env-sec"),
                           ("secrets", "default", "vol-sec"), ("configmaps", "default", "proj-cm"),
                           ("persistentvolumeclaims", "default", "data")}


def test_secret_readable_only_while_a_bound_pod_references_it() -> None:
    na = authorizer()
    mine = pod("a", "n1", volumes=[{"name": "v", "secret": {"secretName": "s1"}}])
    theirs = pod("b", "n2", volumes=[{"name": "v", "secret": {"secretName": "s2"}}])
    na.graph.on_pod("a", mine, None)
    na.graph.on_pod("b", theirs, None)
    assert na.decide(a("get", "secrets", "s1"))[0] is Decision.ALLOW
    decision, reason = na.decide(a("get", "secrets", "s2"))
    assert decision is Decision.NO_OPINION
    assert reason == "no relationship found between node 'n1' and this object"
    assert na.decide(a("list", "secrets"))[0] is Decision.NO_OPINION  # no listing all secrets
    assert na.decide(a("update", "secrets", "s1"))[0] is Decision.NO_OPINION
    na.graph.on_pod("a", None, mine)  # pod deleted: the edge goes
    assert na.decide(a("get", "secrets", "s1"))[0] is Decision.NO_OPINION


def test_leases_pod_status_and_nodes() -> None:
    na = authorizer()
    na.graph.on_pod("a", pod("a", "n1"), None)
    na.graph.on_pod("b", pod("b", "n2"), None)
    lease = lambda verb, name, ns="kube-node-lease": a(verb, "leases", name, ns, group="coordination.k8s.io")  # noqa: E731
    assert na.decide(lease("update", "n1"))[0] is Decision.ALLOW
    assert na.decide(lease("update", "n2"))[0] is Decision.NO_OPINION
    assert na.decide(lease("get", "n1", "kube-system"))[0] is Decision.NO_OPINION
    assert na.decide(a("update", "pods", "a", sub="status"))[0] is Decision.ALLOW
    assert na.decide(a("update", "pods", "b", sub="status"))[0] is Decision.NO_OPINION
    assert na.decide(a("list", "pods", ns=""))[0] is Decision.ALLOW
    assert na.decide(a("patch", "nodes", "n1", ns="", sub="status"))[0] is Decision.ALLOW
    assert na.decide(a("patch", "nodes", "n2", ns=""))[0] is Decision.NO_OPINION
    assert na.decide(a("create", "deployments", group="apps"))[0] is Decision.NO_OPINION
    other = Attrs(UserInfo("bob", ("system:authenticated",)), "get", True, "default", "", "secrets", "", "s1")
    assert na.decide(other) == (Decision.NO_OPINION, "")
