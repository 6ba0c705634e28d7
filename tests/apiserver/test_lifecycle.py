"""Finalizers, graceful deletion, propagation, namespace lifecycle."""

from __future__ import annotations

import asyncio

import httpx

from .conftest import cm

CMS = "/api/v1/namespaces/default/configmaps"


async def test_finalizers_block_removal_until_cleared(client: httpx.AsyncClient) -> None:
    body = cm("f")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await client.post(CMS, json=body)
    r = await client.delete(f"{CMS}/f")
    assert r.status_code == 200
    obj = (await client.get(f"{CMS}/f")).json()
    assert obj["metadata"]["deletionTimestamp"]
    add = dict(obj)
    add["metadata"] = dict(obj["metadata"], finalizers=["example.com/hold", "example.com/more"])
    r = await client.put(f"{CMS}/f", json=add)
    assert r.status_code == 422 and "no new finalizers" in r.json()["message"]
    obj["metadata"]["finalizers"] = []
    assert (await client.put(f"{CMS}/f", json=obj)).status_code == 200
    assert (await client.get(f"{CMS}/f")).status_code == 404


async def test_delete_preconditions_and_propagation(client: httpx.AsyncClient) -> None:
    obj = (await client.post(CMS, json=cm("pc"))).json()
    r = await client.request("DELETE", f"{CMS}/pc", json={"preconditions": {"uid": "other"}})
    assert r.status_code == 409
    r = await client.request("DELETE", f"{CMS}/pc", json={"propagationPolicy": "Orphan"})
    assert r.status_code == 200
    got = r.json()
    assert got["metadata"]["finalizers"] == ["orphan"] and got["metadata"]["uid"] == obj["metadata"]["uid"]
    r = await client.request("DELETE", f"{CMS}/pc", json={"propagationPolicy": "Nope"})
    assert r.status_code == 422


async def test_bound_pod_deletion_is_graceful(client: httpx.AsyncClient) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "g"},
           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}
    await client.post("/api/v1/namespaces/default/pods", json=pod)
    r = await client.delete("/api/v1/namespaces/default/pods/g")
    assert r.status_code == 200 and r.json()["metadata"]["deletionGracePeriodSeconds"] == 30
    r = await client.request("DELETE", "/api/v1/namespaces/default/pods/g", json={"gracePeriodSeconds": 0})
    assert r.status_code == 200
    assert (await client.get("/api/v1/namespaces/default/pods/g")).status_code == 404


async def test_namespace_lifecycle(client: httpx.AsyncClient) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}}
    r = await client.post("/api/v1/namespaces", json=ns)
    assert r.status_code == 201 and r.json()["status"]["phase"] == "Active"
    held = cm("held", "tmp")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await client.post("/api/v1/namespaces/tmp/configmaps", json=held)
    await client.post("/api/v1/namespaces/tmp/configmaps", json=cm("plain", "tmp"))
    r = await client.delete("/api/v1/namespaces/tmp")
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Terminating"
    r = await client.post("/api/v1/namespaces/tmp/configmaps", json=cm("new", "tmp"))
    assert r.status_code == 403 and "because it is being terminated" in r.json()["message"]
    for _ in range(50):
        if (await client.get("/api/v1/namespaces/tmp/configmaps/plain")).status_code == 404:
            break
        await asyncio.sleep(0.05)
    assert (await client.get("/api/v1/namespaces/tmp")).status_code == 200  # held by the finalizer
    await client.patch("/api/v1/namespaces/tmp/configmaps/held", content=b'{"metadata":{"finalizers":null}}',
                       headers={"Content-Type": "application/merge-patch+json"})
    for _ in range(60):
        if (await client.get("/api/v1/namespaces/tmp")).status_code == 404:
            break
        await asyncio.sleep(0.1)
    assert (await client.get("/api/v1/namespaces/tmp")).status_code == 404


async def test_system_namespaces_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        r = await client.delete(f"/api/v1/namespaces/{name}")
        assert r.status_code == 403, name


async def test_orphan_finalizer_is_processed(client: httpx.AsyncClient) -> None:
    owner = (await client.post(CMS, json=cm("owner"))).json()
    dep = cm("dep")
    dep["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                           "uid": owner["metadata"]["uid"]}]
    await client.post(CMS, json=dep)
    r = await client.request("DELETE", f"{CMS}/owner", json={"propagationPolicy": "Orphan"})
    assert r.status_code == 200
    for _ in range(50):
        if (await client.get(f"{CMS}/owner")).status_code == 404:
            break
        await asyncio.sleep(0.05)
    assert (await client.get(f"{CMS}/owner")).status_code == 404
    assert "ownerReferences" not in (await client.get(f"{CMS}/dep")).json()["metadata"]
