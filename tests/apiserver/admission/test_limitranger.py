"""LimitRanger: defaults from a namespace's LimitRange, and min/max/ratio refusals with upstream's words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import rt
from tugboat.client.errors import ApiStatusError

PODS = rt("", "v1", "pods")
LR = rt("", "v1", "limitranges")
PVC = rt("", "v1", "persistentvolumeclaims")


def pod(name: str, res: dict[str, Any] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "busybox"}
    if res:
        c["resources"] = res
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [c]}}


async def add_lr(client: Any, limits: list[dict[str, Any]]) -> None:
    await client.create(LR, {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
                             "spec": {"limits": limits}}, "default")


async def test_defaults_are_applied_and_annotated() -> None:
    async with running_apiserver() as (_srv, client):
        await add_lr(client, [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                               "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}])
        out = await client.create(PODS, pod("p"), "default")
        assert out["spec"]["containers"][0]["resources"] == {
            "limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
        assert out["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
            "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c")
        # what the user set is kept; only the missing resource is defaulted
        out = await client.create(PODS, pod("q", {"limits": {"cpu": "200m"}, "requests": {"cpu": "200m"}}),
                                  "default")
        assert out["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}
        assert out["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
            "LimitRanger plugin set: memory request for container c; memory limit for container c")


async def test_max_min_and_ratio_are_enforced() -> None:
    async with running_apiserver() as (_srv, client):
        await add_lr(client, [{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "100m"},
                               "maxLimitRequestRatio": {"cpu": "2"}}])
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("big", {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}), "default")
        assert ei.value.code == 403
        assert ei.value.message == 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("ratio", {"limits": {"cpu": "1"}, "requests": {"cpu": "200m"}}),
                                "default")
        assert ei.value.message == ('pods "ratio" is forbidden: cpu max limit to request ratio per Container is 2, '
                                    'but provided ratio is 5.000000')
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("all", {"limits": {"cpu": "2"}, "requests": {"cpu": "50m"}}), "default")
        assert ei.value.message == ('pods "all" is forbidden: [minimum cpu usage per Container is 100m, but request '
                                    'is 50m, maximum cpu usage per Container is 1, but limit is 2, cpu max limit to '
                                    'request ratio per Container is 2, but provided ratio is 40.000000]')
        # with only max given, the LimitRange's default limit and request come from it
        out = await client.create(PODS, pod("none"), "default")
        assert out["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
        await client.create(PODS, pod("ok", {"limits": {"cpu": "400m"}, "requests": {"cpu": "200m"}}), "default")


async def test_pvc_storage_bounds() -> None:
    async with running_apiserver() as (_srv, client):
        await add_lr(client, [{"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}, "min": {"storage": "1Gi"}}])
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PVC, body, "default")
        assert ei.value.message == ('persistentvolumeclaims "c" is forbidden: maximum storage usage per '
                                    'PersistentVolumeClaim is 2Gi, but request is 5Gi')
        body["spec"]["resources"]["requests"]["storage"] = "1Gi"
        await client.create(PVC, body, "default")
