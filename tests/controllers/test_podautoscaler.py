"""The HPA controller against a real in-process API server.

Pod usage comes from a substituted `fetch_pod_metrics` (the PodMetrics JSON metrics.k8s.io
returns); the path through the real metrics API and node stats is covered end to end in
tests/e2e/test_real_hpa.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.client import Client, InformerFactory
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.podautoscaler import HorizontalPodAutoscalerController
from tugboat.util.clock import rfc3339

DEPLOY, PODS, HPA = rt("apps", "v1", "deployments"), rt("", "v1", "pods"), rt("autoscaling", "v2", "horizontalpodautoscalers")
EVENTS = rt("", "v1", "events")


@contextlib.asynccontextmanager
async def hpa_controller(client: Client, usage: dict[str, str]) -> AsyncIterator[HorizontalPodAutoscalerController]:
    ctx = ControllerContext(client, InformerFactory(client), options={
        "horizontal-pod-autoscaler-controller": {"sync_period": 0.1, "cpu_initialization_period": 0}})
    ctl = HorizontalPodAutoscalerController(ctx)

    async def fetch(ns: str, selector: str) -> list[dict[str, Any]]:
        pods = (await client.list(PODS, ns, label_selector=selector))["items"]
        return [{"metadata": {"name": p["metadata"]["name"], "namespace": ns}, "timestamp": rfc3339(ctx.clock.time()),
                 "window": "15s", "containers": [{"name": "c", "usage": {"cpu": usage.get(p["metadata"]["name"], "0")}}]}
                for p in pods]

    ctl.fetch_pod_metrics = fetch  # type: ignore[method-assign]
    ctl.setup()
    ctx.informers.start()
    assert await ctx.informers.wait_for_sync(10)
    task = asyncio.create_task(ctl.run())
    try:
        yield ctl
    finally:
        await ctl.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctx.informers.stop()


async def make_pod(client: Client, name: str) -> None:
    await client.create(PODS, {"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}]}}, "default")
    pod = await client.get(PODS, name, "default")
    started = rfc3339(1_600_000_000)
    pod["status"] = {"phase": "Running", "startTime": started,
                     "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}]}
    await client.update_status(PODS, pod)


def deployment(replicas: int) -> dict[str, Any]:
    tmpl = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    return {"metadata": {"name": "web"}, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                                                  "template": tmpl}}


def hpa(behavior: dict[str, Any] | None = None, max_replicas: int = 10) -> dict[str, Any]:
    spec: dict[str, Any] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                            "minReplicas": 1, "maxReplicas": max_replicas,
                            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                                "type": "Utilization", "averageUtilization": 50}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    return {"metadata": {"name": "web"}, "spec": spec}


def cond(h: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in h["status"].get("conditions", []) if c["type"] == ctype)


async def test_scales_out_under_load_and_in_after_it():
    async with running_apiserver() as (_srv, client):
        await client.create(DEPLOY, deployment(2), "default")
        for n in ("web-a", "web-b"):
            await make_pod(client, n)
        usage = {"web-a": "100m", "web-b": "100m"}  # 100 % of request, target 50 % → 4 replicas
        no_down_window = {"scaleDown": {"stabilizationWindowSeconds": 0}}
        async with hpa_controller(client, usage):
            await client.create(HPA, hpa(no_down_window), "default")

            async def replicas() -> int:
                return int((await client.get(DEPLOY, "web", "default"))["spec"]["replicas"])

            await eventually(lambda: _eq(replicas(), 4), timeout=60, what="scale out to 4")
            h = await client.get(HPA, "web", "default")
            assert cond(h, "ScalingActive")["reason"] == "ValidMetricFound"
            assert h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 100
            assert h["status"]["lastScaleTime"]
            evs = (await client.list(EVENTS, "default"))["items"]
            assert any(e["reason"] == "SuccessfulRescale" and
                       e["message"] == "New size: 4; reason: cpu resource utilization (percentage of request) above target"
                       for e in evs)
            usage.update({"web-a": "5m", "web-b": "5m"})  # load gone
            await eventually(lambda: _eq(replicas(), 1), timeout=60, what="scale in to minReplicas")
            h = await client.get(HPA, "web", "default")
            assert h["status"]["desiredReplicas"] == 1


async def test_max_replicas_limits_and_condition_says_so():
    async with running_apiserver() as (_srv, client):
        await client.create(DEPLOY, deployment(2), "default")
        for n in ("web-a", "web-b"):
            await make_pod(client, n)
        async with hpa_controller(client, {"web-a": "1", "web-b": "1"}):
            await client.create(HPA, hpa(max_replicas=3), "default")

            async def limited() -> Any:
                h = await client.get(HPA, "web", "default")
                conds = {c["type"]: c for c in h.get("status", {}).get("conditions", [])}
                return conds.get("ScalingLimited", {}).get("reason") == "TooManyReplicas" and h
            h = await eventually(limited, timeout=60, what="ScalingLimited TooManyReplicas")
            assert cond(h, "ScalingLimited")["status"] == "True"
            assert (await client.get(DEPLOY, "web", "default"))["spec"]["replicas"] == 3


async def test_missing_requests_reported_not_scaled():
    async with running_apiserver() as (_srv, client):
        await client.create(DEPLOY, deployment(1), "default")
        await client.create(PODS, {"metadata": {"name": "web-a", "labels": {"app": "web"}},
                                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, "default")
        async with hpa_controller(client, {"web-a": "500m"}):
            await client.create(HPA, hpa(), "default")

            async def failed() -> Any:
                h = await client.get(HPA, "web", "default")
                c = {c["type"]: c for c in h.get("status", {}).get("conditions", [])}.get("ScalingActive")
                return c is not None and c["status"] == "False" and c
            c = await eventually(failed, timeout=60, what="ScalingActive False")
            assert c["reason"] == "FailedGetResourceMetric"
            assert "missing request for cpu in container c of Pod web-a" in c["message"]
            assert (await client.get(DEPLOY, "web", "default"))["spec"]["replicas"] == 1


async def test_zero_replicas_disables_scaling():
    async with running_apiserver() as (_srv, client):
        await client.create(DEPLOY, deployment(0), "default")
        async with hpa_controller(client, {}):
            await client.create(HPA, hpa(), "default")

            async def disabled() -> Any:
                h = await client.get(HPA, "web", "default")
                c = {c["type"]: c for c in h.get("status", {}).get("conditions", [])}.get("ScalingActive")
                return c is not None and c["reason"] == "ScalingDisabled"
            await eventually(disabled, timeout=60, what="ScalingDisabled")
            assert (await client.get(DEPLOY, "web", "default"))["spec"]["replicas"] == 0


async def _eq(coro: Any, value: Any) -> bool:
    return bool(await coro == value)
