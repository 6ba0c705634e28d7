"""Shared pod helpers (podcontrol.py) and the cluster fixture the workload-controller tests use.

`cluster()` is a real in-process API server (GC finalizer stand-in off: our garbage
collector owns that) plus a ControllerManager running the chosen controllers. There is no
node agent: tests make pods Ready by writing pod status through /status, like a kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.support.apiserver import running_apiserver
from tugboat.api.scheme import ResourceType
from tugboat.client import Client, InformerFactory
from tugboat.client.clock import FakeClock
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.manager import ControllerManager
from tugboat.controllers.podcontrol import (
    Expectations,
    is_pod_available,
    owner_reference,
    pod_from_template,
    slow_start_batch,
)
from tugboat.util.clock import rfc3339

Obj = dict[str, Any]


@dataclass
class Env:
    server: Any
    client: Client
    ctx: ControllerContext
    mgr: ControllerManager

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        return self.ctx.rt(group, version, plural)

    @property
    def pods_rt(self) -> ResourceType:
        return self.rt("", "v1", "pods")

    async def pods(self, ns: str = "default", selector: str | None = None) -> list[Obj]:
        items = (await self.client.list(self.pods_rt, ns, label_selector=selector))["items"]
        return sorted(items, key=lambda p: p["metadata"]["name"])

    async def make_ready(self, pod: Obj, ready: bool = True) -> None:
        """What a kubelet would report: Running, Ready=True since now."""
        now = rfc3339(self.ctx.clock.time())
        st = "True" if ready else "False"
        body = {"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": st, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": st, "lastTransitionTime": now}]}}
        await self.client.patch(self.pods_rt, pod["metadata"]["name"], body, pod["metadata"]["namespace"],
                                subresource="status")

    async def make_all_ready(self, ns: str = "default", selector: str | None = None) -> int:
        n = 0
        for p in await self.pods(ns, selector):
            if not any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (p.get("status") or {}).get("conditions") or ()):
                await self.make_ready(p)
                n += 1
        return n


async def wait_for(pred: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await pred()
        if last:
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@contextlib.asynccontextmanager
async def cluster(controllers: list[str], *, clock: Any = None) -> AsyncIterator[Env]:
    async with running_apiserver() as (server, client):
        server.ctx.config.gc_finalizers = False
        ctx = ControllerContext(client, InformerFactory(client), **({"clock": clock} if clock else {}))
        mgr = ControllerManager(ctx, controllers)
        task = asyncio.create_task(mgr.run())
        try:
            await asyncio.wait_for(mgr.running.wait(), 10)
            yield Env(server, client, mgr.ctx, mgr)
        finally:
            await mgr.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# -- tests of the helpers themselves ----------------------------------------------------------

RS_RT = ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True)


def test_pod_from_template_copies_metadata_and_sets_controller_ref() -> None:
    owner = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}}
    tpl = {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["x/y"]},
           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    pod = pod_from_template(tpl, owner, RS_RT)
    md = pod["metadata"]
    assert md["generateName"] == "web-" and md["namespace"] == "ns"
    assert md["labels"] == {"app": "web"} and md["annotations"] == {"a": "b"} and md["finalizers"] == ["x/y"]
    assert md["ownerReferences"] == [owner_reference(owner, RS_RT)]
    assert md["ownerReferences"][0] == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1",
                                        "controller": True, "blockOwnerDeletion": True}
    pod["spec"]["containers"][0]["image"] = "changed"
    assert tpl["spec"]["containers"][0]["image"] == "i"  # a copy, not the template


async def test_slow_start_batches_double_and_stop_at_first_failure() -> None:
    calls: list[int] = []

    async def ok() -> None:
        calls.append(1)

    assert await slow_start_batch(10, 1, ok) == (10, None)
    assert len(calls) == 10
    n = 0

    async def fail_after_3() -> None:
        nonlocal n
        n += 1
        if n > 3:
            raise RuntimeError("quota")

    done, err = await slow_start_batch(100, 1, fail_after_3)
    # batches 1, 2, 4: the third batch has failures and nothing after it runs
    assert n == 7 and done == 3 and isinstance(err, RuntimeError)


def test_expectations_block_until_observed_or_expired() -> None:
    clock = FakeClock()
    e = Expectations(clock)
    assert e.satisfied("ns/a")
    e.expect_creations("ns/a", 2)
    assert not e.satisfied("ns/a")
    e.creation_observed("ns/a")
    assert not e.satisfied("ns/a")
    e.creation_observed("ns/a")
    assert e.satisfied("ns/a")
    e.expect_deletions("ns/a", ["ns/p1"])
    assert not e.satisfied("ns/a")
    clock.advance(301)
    assert e.satisfied("ns/a")  # expired: resync anyway


def test_available_needs_min_ready_seconds() -> None:
    pod = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(1000)}]}}
    assert is_pod_available(pod, 0, 1000)
    assert not is_pod_available(pod, 10, 1005)
    assert is_pod_available(pod, 10, 1010)
