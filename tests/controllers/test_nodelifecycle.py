"""Node lifecycle + taint eviction against a real in-process API server, time on a FakeClock.

A node whose lease and heartbeat stop goes Ready=Unknown after the grace period, gets the
unreachable taints, and its pods go: at once without a toleration, after tolerationSeconds
with one (300 s by default through the DefaultTolerationSeconds admission). When the node is
back, the taints go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.client.clock import FakeClock, micro_time
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.nodelifecycle import NodeLifecycleController, NodeLifecycleOptions
from tugboat.controllers.nodelifecycle_eviction import TaintEvictionController
from tugboat.util.clock import rfc3339

S = default_scheme()


NODES = _rt("", "v1", "nodes")
PODS = _rt("", "v1", "pods")
LEASES = _rt("coordination.k8s.io", "v1", "leases")
UNREACHABLE = "node.kubernetes.io/unreachable"


class Cluster:
    def __init__(self, client: Client, clock: FakeClock, nlc: NodeLifecycleController):
        self.client, self.clock, self.nlc = client, clock, nlc

    async def add_node(self, name: str) -> None:
        await self.client.create(NODES, {"metadata": {"name": name}})
        await self.heartbeat(name)

    async def heartbeat(self, name: str) -> None:
        node = await self.client.get(NODES, name)
        now = rfc3339(self.clock.time())
        node["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                          "lastHeartbeatTime": now, "lastTransitionTime": now}]}
        await self.client.update_status(NODES, node)
        await self.renew(name)

    async def renew(self, name: str) -> None:
        body: dict[str, Any] = {"metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                         "renewTime": micro_time(self.clock.time())}}
        cur = self.nlc.leases.lister.get(name, "kube-node-lease")
        if cur is None:
            with contextlib.suppress(Exception):
                await self.client.create(LEASES, body, "kube-node-lease")
        await self.client.update(LEASES, body, "kube-node-lease")
        want = body["spec"]["renewTime"]
        await eventually(lambda: _lease_is(self.nlc, name, want))

    async def advance(self, seconds: float, *, alive: tuple[str, ...] = ()) -> None:
        """Renew the `alive` nodes' leases, move time, and wait for one monitor pass."""
        for n in alive:
            await self.renew(n)
        before = self.nlc.passes
        self.clock.advance(seconds)
        await eventually(lambda: _passed(self.nlc, before))

    async def pod(self, name: str, node: str, tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
        if tolerations is not None:
            spec["tolerations"] = tolerations
        pod = await self.client.create(PODS, {"metadata": {"name": name}, "spec": spec}, "default")
        pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        return await self.client.update_status(PODS, pod)

    async def node(self, name: str) -> dict[str, Any]:
        return await self.client.get(NODES, name)

    async def deleting(self, name: str) -> bool:
        pod = await self.client.get(PODS, name, "default")
        return bool(pod["metadata"].get("deletionTimestamp"))


async def _lease_is(nlc: NodeLifecycleController, name: str, want: str) -> bool:
    cur = nlc.leases.lister.get(name, "kube-node-lease")
    return bool(cur and cur["spec"].get("renewTime") == want)


async def _passed(nlc: NodeLifecycleController, before: int) -> bool:
    return nlc.passes > before


@contextlib.asynccontextmanager
async def cluster(options: NodeLifecycleOptions | None = None) -> AsyncIterator[Cluster]:
    clock = FakeClock()
    async with running_apiserver() as (_srv, client):
        ctx = ControllerContext(client, InformerFactory(client), clock=clock)
        nlc = NodeLifecycleController(ctx, options=options)
        tec = TaintEvictionController(ctx)
        for c in (nlc, tec):
            c.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        tasks = [asyncio.create_task(c.run()) for c in (nlc, tec)]
        try:
            yield Cluster(client, clock, nlc)
        finally:
            for c in (nlc, tec):
                await c.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ctx.informers.stop()


def _taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()}


def _cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


async def test_silent_node_goes_unknown_is_tainted_and_pods_are_evicted_on_schedule() -> None:
    async with cluster() as c:
        for n in ("a", "b"):
            await c.add_node(n)
        await c.pod("default-tol", "a")
        await c.pod("zero", "a", [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                   "tolerationSeconds": 0}])
        await c.pod("sixty", "a", [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 60}])
        await c.pod("forever", "a", [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])
        await c.pod("on-b", "b")
        # The admission plugin gave the pod without tolerations 300 s for both taints.
        tols = (await c.client.get(PODS, "default-tol", "default"))["spec"]["tolerations"]
        assert {(t["key"], t["tolerationSeconds"]) for t in tols} == {
            ("node.kubernetes.io/not-ready", 300), (UNREACHABLE, 300)}

        await c.advance(5, alive=("a", "b"))  # a pass that observes both nodes alive
        await c.advance(30, alive=("b",))
        assert _cond(await c.node("a"), "Ready")["status"] == "True"  # still within 50 s
        await c.advance(25, alive=("b",))  # 55 s of silence from "a"

        a = await c.node("a")
        ready = _cond(a, "Ready")
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        assert _cond(a, "MemoryPressure")["status"] == "Unknown"  # never posted: added as Unknown
        assert _cond(await c.node("b"), "Ready")["status"] == "True"
        await eventually(lambda: _has_taints(c, "a", {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}))
        assert _taints(await c.node("b")) == set()

        await eventually(lambda: c.deleting("zero"))
        zero = await c.client.get(PODS, "zero", "default")
        assert _cond(zero, "DisruptionTarget")["reason"] == "DeletionByTaintManager"
        pod = await c.client.get(PODS, "default-tol", "default")
        assert _cond(pod, "Ready")["status"] == "False"  # marked not ready for endpoints
        assert not await c.deleting("sixty")

        await c.advance(60, alive=("b",))
        await eventually(lambda: c.deleting("sixty"))
        assert not await c.deleting("default-tol")
        await c.advance(240, alive=("b",))  # 300 s after the taint
        await eventually(lambda: c.deleting("default-tol"))
        assert not await c.deleting("forever")
        assert not await c.deleting("on-b")

        # The node comes back: its taints go at once.
        await c.heartbeat("a")
        await eventually(lambda: _has_taints(c, "a", set()))
        await c.advance(5, alive=("a", "b"))
        assert _cond(await c.node("a"), "Ready")["status"] == "True"


async def _has_taints(c: Cluster, name: str, want: set[tuple[str, str]]) -> bool:
    return _taints(await c.node(name)) == want


async def test_any_noexecute_taint_evicts_pods_that_do_not_tolerate_it() -> None:
    async with cluster() as c:
        await c.add_node("a")
        await c.pod("plain", "a")
        await c.pod("tolerant", "a", [{"key": "example.com/maint", "operator": "Exists", "effect": "NoExecute"}])
        node = await c.node("a")
        node.setdefault("spec", {})["taints"] = [{"key": "example.com/maint", "value": "x", "effect": "NoExecute"}]
        await c.client.update(NODES, node)
        await eventually(lambda: c.deleting("plain"))
        await c.advance(3600, alive=("a",))
        assert not await c.deleting("tolerant")


async def test_no_eviction_taints_when_every_node_is_unhealthy() -> None:
    async with cluster(NodeLifecycleOptions(node_monitor_grace_period=10)) as c:
        await c.add_node("solo")
        await c.pod("p", "solo", [])
        await c.advance(5, alive=("solo",))
        await c.advance(15)
        assert _cond(await c.node("solo"), "Ready")["status"] == "Unknown"
        await c.advance(5)
        # Only the NoSchedule taint: the control plane may be the one that is cut off.
        assert _taints(await c.node("solo")) == {(UNREACHABLE, "NoSchedule")}


async def test_conditions_and_unschedulable_become_noschedule_taints() -> None:
    async with cluster() as c:
        await c.add_node("a")
        node = await c.node("a")
        node["status"]["conditions"].append({"type": "DiskPressure", "status": "True"})
        await c.client.update_status(NODES, node)
        node = await c.node("a")
        node.setdefault("spec", {})["unschedulable"] = True
        await c.client.update(NODES, node)
        await eventually(lambda: _has_taints(c, "a", {("node.kubernetes.io/disk-pressure", "NoSchedule"),
                                                      ("node.kubernetes.io/unschedulable", "NoSchedule")}))
        node = await c.node("a")
        node["spec"]["unschedulable"] = False
        await c.client.update(NODES, node)
        await eventually(lambda: _has_taints(c, "a", {("node.kubernetes.io/disk-pressure", "NoSchedule")}))


async def test_fast_failover_options_shorten_the_grace_period() -> None:
    async with cluster(NodeLifecycleOptions(node_monitor_grace_period=10)) as c:
        for n in ("a", "b"):
            await c.add_node(n)
        await c.advance(5, alive=("a", "b"))
        await c.advance(11, alive=("b",))
        assert _cond(await c.node("a"), "Ready")["status"] == "Unknown"
