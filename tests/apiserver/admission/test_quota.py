"""ResourceQuota: admission refuses what would exceed status.hard; the controller keeps status true."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.controllers import running_controllers
from tests.support.wait import eventually, rt
from tugboat.api import quota
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.resourcequota import ResourceQuotaController

PODS = rt("", "v1", "pods")
RQ = rt("", "v1", "resourcequotas")
CM = rt("", "v1", "configmaps")


def pod(name: str, *, res: dict[str, Any] | None = None, ns: str = "default") -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "busybox"}
    if res is not None:
        c["resources"] = res
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [c]}}


async def make_quota(client: Any, name: str, hard: dict[str, str], **spec: Any) -> None:
    await client.create(RQ, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
                             "spec": {"hard": hard, **spec}}, "default")

    async def synced() -> bool:
        st = (await client.get(RQ, name, "default")).get("status") or {}
        return st.get("hard") == quota.to_list(quota.parse_list(hard)) and set(st.get("used") or {}) == set(hard)
    await eventually(synced, what="quota synced")


async def test_pod_over_quota_is_forbidden_with_upstream_message() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        await make_quota(client, "q", {"pods": "2"})
        await client.create(PODS, pod("a"), "default")
        await client.create(PODS, pod("b"), "default")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("c"), "default")
        assert ei.value.code == 403
        assert ei.value.message == ('pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, '
                                    'limited: pods=2')
        st = (await client.get(RQ, "q", "default"))["status"]
        assert st["used"] == {"pods": "2"}
        # deleting a pod gives its usage back (controller replenishment), then a new pod fits
        await client.delete(PODS, "a", "default", grace_period_seconds=0)

        async def freed() -> bool:
            return (await client.get(RQ, "q", "default"))["status"]["used"]["pods"] == "1"
        await eventually(freed, what="usage given back")
        await client.create(PODS, pod("c"), "default")


async def test_compute_quota_requires_limits_and_sums_usage() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        await make_quota(client, "compute", {"limits.cpu": "1", "requests.memory": "1Gi"})
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("nolimits"), "default")
        assert ei.value.code == 403
        assert ei.value.message == ('pods "nolimits" is forbidden: failed quota: compute: must specify '
                                    'limits.cpu for: c; requests.memory for: c')
        res = {"limits": {"cpu": "600m"}, "requests": {"memory": "512Mi", "cpu": "100m"}}
        await client.create(PODS, pod("p1", res=res), "default")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("p2", res=res), "default")
        assert "exceeded quota: compute, requested: limits.cpu=600m, used: limits.cpu=600m, limited: limits.cpu=1" \
            in ei.value.message
        used = (await client.get(RQ, "compute", "default"))["status"]["used"]
        assert used == {"limits.cpu": "600m", "requests.memory": "512Mi"}


async def test_object_count_quota_and_dry_run_does_not_charge() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        await make_quota(client, "cm", {"count/configmaps": "2", "configmaps": "2"})
        base = int((await client.get(RQ, "cm", "default"))["status"]["used"]["configmaps"])  # kube-root-ca etc.
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
        if base < 2:
            await client.create(CM, body, "default", dry_run=True)
            assert (await client.get(RQ, "cm", "default"))["status"]["used"]["configmaps"] == str(base)
        for i in range(2 - base):
            await client.create(CM, {**body, "metadata": {"name": f"cm{i}"}}, "default")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(CM, body, "default")
        assert 'configmaps "x" is forbidden: exceeded quota: cm, requested: configmaps=1,count/configmaps=1' \
            in ei.value.message


async def test_concurrent_creates_never_exceed_quota() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        await make_quota(client, "q", {"pods": "5"})

        async def try_create(i: int) -> bool:
            try:
                await client.create(PODS, pod(f"p{i}"), "default")
                return True
            except ApiStatusError as e:
                assert e.code == 403, e.message
                return False
        results = await asyncio.gather(*(try_create(i) for i in range(12)))
        assert sum(results) == 5
        listed = await client.list(PODS, "default")
        assert len(listed["items"]) == 5
        assert (await client.get(RQ, "q", "default"))["status"]["used"] == {"pods": "5"}


async def test_scoped_quota_counts_only_matching_pods() -> None:
    async with running_controllers(ResourceQuotaController) as client:
        await make_quota(client, "be", {"pods": "1"}, scopes=["BestEffort"])
        await client.create(PODS, pod("be1"), "default")
        # a pod with requests is NotBestEffort: the scoped quota ignores it
        await client.create(PODS, pod("burst", res={"requests": {"cpu": "10m"}}), "default")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("be2"), "default")
        assert "exceeded quota: be" in ei.value.message


def test_pod_usage_uses_max_of_init_containers_and_skips_terminal() -> None:
    p: dict[str, Any] = {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}},
                                 {"name": "b", "resources": {"requests": {"cpu": "200m"}}}],
                  "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "500m"}}}]}}
    u = quota.pod_usage(p)
    assert quota.to_list(u) == {"count/pods": "1", "cpu": "500m", "pods": "1", "requests.cpu": "500m"}
    p["status"] = {"phase": "Succeeded"}
    assert quota.to_list(quota.pod_usage(p)) == {"count/pods": "1"}
