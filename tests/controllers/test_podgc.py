"""Pod GC: orphans go after the quarantine, finished pods beyond the threshold go oldest first."""

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
from tugboat.client.clock import FakeClock
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.podgc import PodGCController, PodGCOptions

S = default_scheme()


PODS = _rt("", "v1", "pods")
NODES = _rt("", "v1", "nodes")


@contextlib.asynccontextmanager
async def podgc(opts: PodGCOptions) -> AsyncIterator[tuple[Client, FakeClock, PodGCController]]:
    clock = FakeClock()
    async with running_apiserver() as (_srv, client):
        ctx = ControllerContext(client, InformerFactory(client), clock=clock)
        ctrl = PodGCController(ctx, options=opts)
        ctrl.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        task = asyncio.create_task(ctrl.run())
        try:
            yield client, clock, ctrl
        finally:
            await ctrl.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.informers.stop()


async def pod(client: Client, name: str, node: str | None = None, phase: str = "Running") -> None:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    p = await client.create(PODS, {"metadata": {"name": name}, "spec": spec}, "default")
    p["status"] = {"phase": phase}
    await client.update_status(PODS, p)


async def names(client: Client) -> set[str]:
    return {p["metadata"]["name"] for p in (await client.list(PODS, "default"))["items"]}


async def tick(clock: FakeClock, ctrl: PodGCController, seconds: float, pods_seen: int) -> None:
    await eventually(lambda: _cached(ctrl, pods_seen))
    before = ctrl.passes
    clock.advance(seconds)
    await eventually(lambda: _after(ctrl, before))


async def _cached(ctrl: PodGCController, n: int) -> bool:
    return len(ctrl.pods.lister.list()) == n


async def _after(ctrl: PodGCController, before: int) -> bool:
    return ctrl.passes > before


async def test_orphaned_pods_deleted_after_quarantine() -> None:
    async with podgc(PodGCOptions()) as (client, clock, ctrl):
        await client.create(NODES, {"metadata": {"name": "alive"}})
        await pod(client, "on-alive", "alive")
        await pod(client, "orphan-1", "ghost")
        await pod(client, "orphan-2", "ghost")
        await pod(client, "pending")
        await tick(clock, ctrl, 20, 4)  # ghost first seen missing
        await tick(clock, ctrl, 20, 4)  # 20 s: still in quarantine
        assert await names(client) == {"on-alive", "orphan-1", "orphan-2", "pending"}
        await tick(clock, ctrl, 20, 4)  # 40 s: gone

        async def cleaned() -> bool:
            return await names(client) == {"on-alive", "pending"}
        await eventually(cleaned)


async def test_terminated_pods_beyond_threshold_are_deleted() -> None:
    async with podgc(PodGCOptions(terminated_pod_gc_threshold=2)) as (client, clock, ctrl):
        await client.create(NODES, {"metadata": {"name": "n"}})
        for i in range(4):
            await pod(client, f"done-{i}", "n", phase="Succeeded")
        await pod(client, "running", "n")
        await tick(clock, ctrl, 20, 5)

        async def trimmed() -> Any:
            left = await names(client)
            return left if len(left) == 3 else None
        left = await eventually(trimmed)
        assert "running" in left
