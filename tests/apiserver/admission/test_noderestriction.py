"""NodeRestriction: a node credential reaches only its own Node, Lease and pods."""

from __future__ import annotations

from typing import Any

from .conftest import token_server


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def pod(name: str, node_name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "busybox"}]}}


async def test_node_cannot_modify_another_node_or_forbidden_labels() -> None:
    async with token_server() as (_srv, c):
        assert (await c["admin"].post("/api/v1/nodes", json=node("b"))).status_code == 201
        r = await c["node-a"].post("/api/v1/nodes", json=node("a", **{"kubernetes.io/hostname": "a"}))
        assert r.status_code == 201, r.text
        r = await c["node-a"].patch("/api/v1/nodes/b", content=b'{"metadata":{"labels":{"x":"y"}}}',
                                    headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 403
        assert r.json()["message"] == 'nodes "b" is forbidden: node "a" is not allowed to modify node "b"'
        assert (await c["node-a"].delete("/api/v1/nodes/b")).status_code == 403
        r = await c["node-a"].patch(
            "/api/v1/nodes/a", content=b'{"metadata":{"labels":{"node-restriction.kubernetes.io/pci":"true"}}}',
            headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 403
        assert r.json()["message"] == ('nodes "a" is forbidden: node "a" is not allowed to modify labels: '
                                       "node-restriction.kubernetes.io/pci")
        # its own kubelet labels and ordinary labels are fine
        r = await c["node-a"].patch(
            "/api/v1/nodes/a", content=b'{"metadata":{"labels":{"node.kubernetes.io/role":"w","team":"x"}}}',
            headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text


async def test_node_reaches_only_pods_bound_to_it() -> None:
    async with token_server() as (_srv, c):
        for name, n in (("mine", "a"), ("theirs", "b")):
            assert (await c["admin"].post("/api/v1/namespaces/default/pods", json=pod(name, n))).status_code == 201
        r = await c["node-a"].delete("/api/v1/namespaces/default/pods/theirs")
        assert r.status_code == 403
        assert r.json()["message"] == ('pods "theirs" is forbidden: node "a" can only delete pods with spec.nodeName '
                                       "set to itself")
        theirs = (await c["admin"].get("/api/v1/namespaces/default/pods/theirs")).json()
        theirs["status"] = {"phase": "Running"}
        r = await c["node-a"].put("/api/v1/namespaces/default/pods/theirs/status", json=theirs)
        assert r.status_code == 403
        mine = (await c["admin"].get("/api/v1/namespaces/default/pods/mine")).json()
        mine["status"] = {"phase": "Running"}
        assert (await c["node-a"].put("/api/v1/namespaces/default/pods/mine/status", json=mine)).status_code == 200
        # only mirror pods may be created by a node
        r = await c["node-a"].post("/api/v1/namespaces/default/pods", json=pod("new", "a"))
        assert r.status_code == 403
        assert 'can only create mirror pods' in r.json()["message"]
        mirror = pod("static-a", "a")
        mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
        assert (await c["node-a"].post("/api/v1/namespaces/default/pods", json=mirror)).status_code == 201


async def test_node_lease_is_its_own_only() -> None:
    async with token_server() as (_srv, c):
        def lease(name: str) -> dict[str, Any]:
            return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                    "spec": {"holderIdentity": name}}
        url = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        assert (await c["node-a"].post(url, json=lease("a"))).status_code == 201
        r = await c["node-a"].post(url, json=lease("b"))
        assert r.status_code == 403
        assert "can only access node lease with the same name as the requesting node" in r.json()["message"]
