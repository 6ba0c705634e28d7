"""Resource quota controller: status.hard mirrors spec.hard, status.used is recomputed from what exists."""

from __future__ import annotations

from typing import Any

from tests.support.controllers import running_controllers
from tests.support.wait import eventually, rt
from tugboat.controllers.resourcequota import ResourceQuotaController

PODS = rt("", "v1", "pods")
RQ = rt("", "v1", "resourcequotas")
DEPLOY = rt("apps", "v1", "deployments")


def pod(name: str, cpu: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}}]}}


async def used(client: Any, name: str) -> dict[str, str]:
    return ((await client.get(RQ, name, "default")).get("status") or {}).get("used") or {}


async def test_status_tracks_pods_and_terminal_pods_free_compute() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        await client.create(PODS, pod("a", "250m"), "default")
        await client.create(PODS, pod("b", "500m"), "default")
        await client.create(RQ, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                                 "spec": {"hard": {"pods": "10", "requests.cpu": "2", "count/pods": "10"}}},
                            "default")

        async def counted() -> bool:
            return await used(client, "q") == {"count/pods": "2", "pods": "2", "requests.cpu": "750m"}
        await eventually(counted, what="initial usage")
        st = (await client.get(RQ, "q", "default"))["status"]
        assert st["hard"] == {"count/pods": "10", "pods": "10", "requests.cpu": "2"}
        # a finished pod still exists (count/pods) but no longer uses compute or "pods"
        b = await client.get(PODS, "b", "default")
        b["status"] = {"phase": "Succeeded"}
        await client.update_status(PODS, b, "default")

        async def freed() -> bool:
            return await used(client, "q") == {"count/pods": "2", "pods": "1", "requests.cpu": "250m"}
        await eventually(freed, what="terminal pod released")


async def test_spec_change_resyncs_hard_and_counts_other_kinds_by_listing() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                    "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
        await client.create(DEPLOY, body, "default")
        await client.create(RQ, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                                 "spec": {"hard": {"count/deployments.apps": "3"}}}, "default")

        async def counted() -> bool:
            return await used(client, "q") == {"count/deployments.apps": "1"}
        await eventually(counted, what="deployments counted")
        q = await client.get(RQ, "q", "default")
        q["spec"]["hard"]["count/deployments.apps"] = "5"
        await client.update(RQ, q, "default")

        async def resynced() -> bool:
            st = (await client.get(RQ, "q", "default")).get("status") or {}
            return st.get("hard") == {"count/deployments.apps": "5"}
        await eventually(resynced, what="hard resynced")
