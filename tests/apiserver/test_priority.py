"""Priority admission: priorityClassName → spec.priority, as upstream's plugin."""

from __future__ import annotations

import httpx


def pod(name: str, **spec: object) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


async def test_system_classes_exist_and_resolve(client: httpx.AsyncClient) -> None:
    r = await client.get("/apis/scheduling.k8s.io/v1/priorityclasses/system-node-critical")
    assert r.status_code == 200 and r.json()["value"] == 2000001000
    r = await client.post("/api/v1/namespaces/default/pods", json=pod("crit", priorityClassName="system-cluster-critical"))
    assert r.status_code == 201
    assert r.json()["spec"]["priority"] == 2000000000
    assert r.json()["spec"]["preemptionPolicy"] == "PreemptLowerPriority"


async def test_no_class_means_zero_then_global_default(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/namespaces/default/pods", json=pod("plain"))
    assert r.json()["spec"]["priority"] == 0
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "dflt"},
          "value": 50, "globalDefault": True}
    assert (await client.post("/apis/scheduling.k8s.io/v1/priorityclasses", json=pc)).status_code == 201
    r = await client.post("/api/v1/namespaces/default/pods", json=pod("defaulted"))
    assert r.json()["spec"]["priority"] == 50 and r.json()["spec"]["priorityClassName"] == "dflt"
    second = dict(pc, metadata={"name": "dflt2"})
    r = await client.post("/apis/scheduling.k8s.io/v1/priorityclasses", json=second)
    assert r.status_code == 403 and "already marked as default" in r.json()["message"]


async def test_missing_class_and_mismatched_priority_are_forbidden(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/namespaces/default/pods", json=pod("nope", priorityClassName="nope"))
    assert r.status_code == 403
    assert r.json()["message"] == 'pods "nope" is forbidden: no PriorityClass with name nope was found'
    r = await client.post("/api/v1/namespaces/default/pods", json=pod("liar", priority=7))
    assert r.status_code == 403 and "must not be provided in pod spec" in r.json()["message"]
