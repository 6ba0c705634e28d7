"""StatefulSet controller against a real in-process API server; the node side is simulated by
writing pod status (Running + Ready) through pods/status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import settled as wait_for
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.client.clock import RealClock
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.statefulset import StatefulSetController
from tugboat.util.clock import rfc3339

S = default_scheme()
PODS = S.get("", "v1", "pods")
PVCS = S.get("", "v1", "persistentvolumeclaims")
STS = S.get("apps", "v1", "statefulsets")
REVS = S.get("apps", "v1", "controllerrevisions")


@contextlib.asynccontextmanager
async def controller() -> AsyncIterator[tuple[Client, StatefulSetController]]:
    async with running_apiserver() as (_srv, client):
        ctx = ControllerContext(client=client, informers=InformerFactory(client), clock=RealClock())
        ctl = StatefulSetController(ctx)
        ctl.setup()
        ctx.informers.start()
        await ctx.informers.wait_for_sync(10)
        task = asyncio.create_task(ctl.run())
        try:
            yield client, ctl
        finally:
            await ctl.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.informers.stop()


async def pod_names(client: Client) -> list[str]:
    pods = (await client.list(PODS, "default"))["items"]
    return sorted(p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp"))


async def make_ready(client: Client, name: str) -> None:
    pod = await client.get(PODS, name, "default")
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(0)}]}
    await client.update_status(PODS, pod)


def sts(name: str = "web", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": "nginx", "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


async def scale(client: Client, name: str, replicas: int) -> None:
    await client.patch(STS, name, {"spec": {"replicas": replicas}}, "default")


async def test_ordered_ready_scales_up_in_order_and_down_in_reverse() -> None:
    async with controller() as (client, _ctl):
        await client.create(STS, sts(replicas=3))
        await wait_for(lambda: _eq(pod_names(client), ["web-0"]))
        await asyncio.sleep(0.2)  # web-1 must wait for web-0 to be Running and Ready
        assert await pod_names(client) == ["web-0"]
        pod = await client.get(PODS, "web-0", "default")
        assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "nginx"
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert labels["apps.kubernetes.io/pod-index"] == "0"
        assert labels["controller-revision-hash"].startswith("web-")
        await make_ready(client, "web-0")
        await wait_for(lambda: _eq(pod_names(client), ["web-0", "web-1"]))
        await make_ready(client, "web-1")
        await wait_for(lambda: _eq(pod_names(client), ["web-0", "web-1", "web-2"]))
        await make_ready(client, "web-2")

        async def done() -> bool:
            st = (await client.get(STS, "web", "default")).get("status") or {}
            return (st.get("readyReplicas") == 3 and st.get("updatedReplicas") == 3
                    and st.get("currentRevision") == st.get("updateRevision") == labels["controller-revision-hash"]
                    and st.get("observedGeneration") == 1 and st.get("availableReplicas") == 3)
        await wait_for(done)

        # scale down: web-2 goes first, and web-1 only after (one at a time, highest first)
        await make_unready(client, "web-0")
        await scale(client, "web", 1)
        await asyncio.sleep(0.2)
        assert await pod_names(client) == ["web-0", "web-1", "web-2"]  # blocked by unhealthy web-0
        await make_ready(client, "web-0")
        await wait_for(lambda: _eq(pod_names(client), ["web-0"]))
        events = (await client.list(S.get("", "v1", "events"), "default"))["items"]
        deletes = [e["message"] for e in sorted(events, key=lambda e: e["metadata"]["name"])
                   if e["reason"] == "SuccessfulDelete"]
        assert deletes == ["delete Pod web-2 in StatefulSet web successful",
                           "delete Pod web-1 in StatefulSet web successful"]


async def make_unready(client: Client, name: str) -> None:
    pod = await client.get(PODS, name, "default")
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    await client.update_status(PODS, pod)


async def _eq(coro: Any, want: Any) -> bool:
    return bool(await coro == want)


async def test_parallel_creates_all_at_once_and_replaces_failed_pods() -> None:
    async with controller() as (client, _ctl):
        await client.create(STS, sts(replicas=3, podManagementPolicy="Parallel"))
        await wait_for(lambda: _eq(pod_names(client), ["web-0", "web-1", "web-2"]))
        old = await client.get(PODS, "web-1", "default")
        old["status"] = {"phase": "Failed"}
        await client.update_status(PODS, old)

        async def replaced() -> bool:
            try:
                p = await client.get(PODS, "web-1", "default")
            except Exception:
                return False
            return bool(p["metadata"]["uid"] != old["metadata"]["uid"])
        await wait_for(replaced)


async def test_volume_claim_templates_create_claims_before_pods_and_keep_them() -> None:
    claim = {"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}
    async with controller() as (client, _ctl):
        await client.create(STS, sts(replicas=2, podManagementPolicy="Parallel", volumeClaimTemplates=[claim],
                                     persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete",
                                                                           "whenScaled": "Retain"}))
        await wait_for(lambda: _eq(pod_names(client), ["web-0", "web-1"]))
        pvcs = {p["metadata"]["name"]: p for p in (await client.list(PVCS, "default"))["items"]}
        assert sorted(pvcs) == ["www-web-0", "www-web-1"]
        assert pvcs["www-web-0"]["metadata"]["labels"] == {"app": "web"}
        refs = pvcs["www-web-0"]["metadata"]["ownerReferences"]
        assert [(r["kind"], r["name"]) for r in refs] == [("StatefulSet", "web")]
        pod = await client.get(PODS, "web-1", "default")
        vols = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert vols["www"]["persistentVolumeClaim"] == {"claimName": "www-web-1"}
        await scale(client, "web", 1)
        await wait_for(lambda: _eq(pod_names(client), ["web-0"]))
        names = sorted(p["metadata"]["name"] for p in (await client.list(PVCS, "default"))["items"])
        assert names == ["www-web-0", "www-web-1"]  # whenScaled: Retain keeps the claim


async def test_rolling_update_with_partition_goes_from_highest_ordinal_down() -> None:
    async with controller() as (client, _ctl):
        await client.create(STS, sts(replicas=3, podManagementPolicy="Parallel",
                                     updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
        await wait_for(lambda: _eq(pod_names(client), ["web-0", "web-1", "web-2"]))
        for n in ("web-0", "web-1", "web-2"):
            await make_ready(client, n)
        first = (await client.get(PODS, "web-0", "default"))["metadata"]["labels"]["controller-revision-hash"]
        await client.patch(STS, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "busybox:2"}]}}}}, "default", patch_type="strategic")

        async def rev(name: str) -> str | None:
            try:
                p = await client.get(PODS, name, "default")
            except Exception:
                return None
            return str(p["metadata"]["labels"]["controller-revision-hash"])

        async def updated(name: str) -> bool:
            r = await rev(name)
            return r is not None and r != first
        await wait_for(lambda: updated("web-2"))
        await asyncio.sleep(0.2)
        assert await rev("web-1") == first  # waits for web-2 to be ready
        await make_ready(client, "web-2")
        await wait_for(lambda: updated("web-1"))
        await make_ready(client, "web-1")

        async def partitioned() -> bool:
            st = (await client.get(STS, "web", "default"))["status"]
            return bool(st.get("updatedReplicas") == 2 and st.get("currentRevision") == first
                        and st.get("updateRevision") != first and st.get("readyReplicas") == 3)
        await wait_for(partitioned)
        assert await rev("web-0") == first  # below the partition: untouched
        revs = (await client.list(REVS, "default"))["items"]
        assert sorted(r["revision"] for r in revs) == [1, 2]
        await client.patch(STS, "web", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}, "default")
        await wait_for(lambda: updated("web-0"))
        await make_ready(client, "web-0")

        async def complete() -> bool:
            st = (await client.get(STS, "web", "default"))["status"]
            return bool(st.get("currentRevision") == st.get("updateRevision") and st.get("updatedReplicas") == 3)
        await wait_for(complete)


async def test_restart_creates_nothing_extra() -> None:
    async with controller() as (client, ctl):
        await client.create(STS, sts(replicas=2, podManagementPolicy="Parallel"))
        await wait_for(lambda: _eq(pod_names(client), ["web-0", "web-1"]))
        uids = {p["metadata"]["uid"] for p in (await client.list(PODS, "default"))["items"]}
        ctx2 = ControllerContext(client=client, informers=InformerFactory(client), clock=RealClock())
        ctl2 = StatefulSetController(ctx2)
        ctl2.setup()
        ctx2.informers.start()
        await ctx2.informers.wait_for_sync(10)
        assert await ctl2.reconcile("default/web") is None
        after = {p["metadata"]["uid"] for p in (await client.list(PODS, "default"))["items"]}
        assert after == uids
        assert len((await client.list(REVS, "default"))["items"]) == 1
        await ctx2.informers.stop()
