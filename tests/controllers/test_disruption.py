"""PDB status from pods and controller scale, and `POST pods/<n>/eviction` honouring it."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.controllers import running_controllers
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import ApiStatusError, Client
from tugboat.controllers.disruption import DisruptionController

S = default_scheme()


PODS = _rt("", "v1", "pods")
PDBS = _rt("policy", "v1", "poddisruptionbudgets")
RSS = _rt("apps", "v1", "replicasets")
DEPLOYS = _rt("apps", "v1", "deployments")


def controller() -> contextlib.AbstractAsyncContextManager[Client]:
    return running_controllers(DisruptionController, max_retries=0)


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def replicaset(client: Client, name: str, replicas: int, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["ownerReferences"] = [owner]
    return await client.create(RSS, {"metadata": meta, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}}, "default")


def ref(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True}


async def pod(client: Client, name: str, owner: dict[str, Any] | None, ready: bool = True) -> None:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [owner]
    p = await client.create(PODS, {"metadata": meta, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}, "default")
    p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]}
    await client.update_status(PODS, p)


async def pdb(client: Client, name: str, **spec: Any) -> None:
    await client.create(PDBS, {"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"app": "web"}}, **spec}}, "default")


async def status_is(client: Client, name: str, **want: Any) -> dict[str, Any] | None:
    st = (await client.get(PDBS, name, "default")).get("status") or {}
    return st if all(st.get(k) == v for k, v in want.items()) else None


async def evict(client: Client, name: str) -> Any:
    return await client.request("POST", f"/api/v1/namespaces/default/pods/{name}/eviction",
                                body={"apiVersion": "policy/v1", "kind": "Eviction",
                                      "metadata": {"name": name, "namespace": "default"}})


async def test_budget_blocks_eviction_until_enough_pods_are_healthy() -> None:
    async with controller() as client:
        rs = await replicaset(client, "web-1", 3)
        await pod(client, "a", ref(rs, "ReplicaSet"))
        await pod(client, "b", ref(rs, "ReplicaSet"))
        await pod(client, "c", ref(rs, "ReplicaSet"), ready=False)
        await pdb(client, "web", maxUnavailable=1)
        st = await eventually(lambda: status_is(client, "web", currentHealthy=2))
        assert (st["desiredHealthy"], st["expectedPods"], st["disruptionsAllowed"]) == (2, 3, 0)
        cond = st["conditions"][0]
        assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "False", "InsufficientPods")
        assert st["observedGeneration"] == 1

        with pytest.raises(ApiStatusError) as err:
            await evict(client, "a")
        assert err.value.code == 429
        status = err.value.status
        assert status["reason"] == "TooManyRequests"
        assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
        assert status["details"]["causes"] == [{"reason": "DisruptionBudget",
                                                "message": "The disruption budget web needs 2 healthy pods and "
                                                           "has 2 currently"}]

        await client.patch(PODS, "c", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                           "default", patch_type="strategic", subresource="status")
        st = await eventually(lambda: status_is(client, "web", disruptionsAllowed=1))
        assert st["conditions"][0]["reason"] == "SufficientPods"
        await evict(client, "a")
        assert (await client.get(PODS, "a", "default"))["metadata"].get("deletionTimestamp")
        await eventually(lambda: status_is(client, "web", disruptionsAllowed=0, currentHealthy=2))
        with pytest.raises(ApiStatusError) as err:
            await evict(client, "b")
        assert err.value.code == 429


async def test_percentages_use_the_scale_of_the_deployment() -> None:
    async with controller() as client:
        dep = await client.create(DEPLOYS, {"metadata": {"name": "web"}, "spec": {
            "replicas": 4, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}}, "default")
        rs = await replicaset(client, "web-abc", 2, owner=ref(dep, "Deployment"))
        await pod(client, "a", ref(rs, "ReplicaSet"))
        await pod(client, "b", ref(rs, "ReplicaSet"))
        await pdb(client, "half", minAvailable="50%")
        st = await eventually(lambda: status_is(client, "half", expectedPods=4))
        assert (st["desiredHealthy"], st["currentHealthy"], st["disruptionsAllowed"]) == (2, 2, 0)
        await client.patch(DEPLOYS, "web", {"spec": {"replicas": 2}}, "default")
        st = await eventually(lambda: status_is(client, "half", expectedPods=2))
        assert (st["desiredHealthy"], st["disruptionsAllowed"]) == (1, 1)


async def test_int_min_available_orphans_and_two_budgets() -> None:
    async with controller() as client:
        await pod(client, "a", None)
        await pod(client, "b", None)
        await pdb(client, "min1", minAvailable=1)
        st = await eventually(lambda: status_is(client, "min1", currentHealthy=2))
        assert (st["desiredHealthy"], st["expectedPods"], st["disruptionsAllowed"]) == (1, 2, 1)
        # maxUnavailable needs controllers to know the scale: pods without one fail the sync.
        await pdb(client, "max1", maxUnavailable=1)
        st = await eventually(lambda: status_is(client, "max1", disruptionsAllowed=0))
        assert st["conditions"][0]["reason"] == "SyncFailed"
        with pytest.raises(ApiStatusError) as err:
            await evict(client, "a")
        assert err.value.code == 500
        assert "more than one PodDisruptionBudget" in err.value.status["message"]


async def test_eviction_decrements_the_budget_and_records_the_pod() -> None:
    async with running_apiserver(max_retries=0) as (_srv, client):  # no controller: status set by hand
        await pod(client, "a", None)
        await pod(client, "b", None)
        await pdb(client, "web", minAvailable=1)
        obj = await client.get(PDBS, "web", "default")
        obj["status"] = {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1,
                         "expectedPods": 2, "conditions": [{"type": "DisruptionAllowed", "status": "True",
                                                            "reason": "SufficientPods", "message": "",
                                                            "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
        await client.update_status(PDBS, obj)
        await evict(client, "a")
        st = (await client.get(PDBS, "web", "default"))["status"]
        assert st["disruptionsAllowed"] == 0 and "a" in st["disruptedPods"]
        assert (st["conditions"][0]["status"], st["conditions"][0]["reason"]) == ("False", "InsufficientPods")
        with pytest.raises(ApiStatusError) as err:
            await evict(client, "b")
        assert err.value.code == 429
        # A pod that is not running yet is not protected by the budget.
        p = await client.get(PODS, "b", "default")
        p["status"] = {"phase": "Pending"}
        await client.update_status(PODS, p)
        await evict(client, "b")
