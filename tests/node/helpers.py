"""Shared helpers for node-agent tests: a simulated agent against a real in-process API server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tests.support.apiserver import running_apiserver
from tugboat.client import Client, is_not_found
from tugboat.client.clock import FakeClock
from tugboat.client.errors import ApiStatusError
from tugboat.node.agent import NodeAgent
from tugboat.node.runtime.simulated import SimulatedRuntime
from tugboat.node.sources import POD


async def until(cond: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `cond` (real time, short steps) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        v = await cond()
        if v:
            return v
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def advance(clock: FakeClock, seconds: float, step: float = 1.0, agents: Any = ()) -> None:
    """Advance fake time in steps, letting tasks run between them; with `agents`, wait before each
    step until their pod workers are idle so nothing happens 'late' in fake time."""
    left = seconds
    while left > 1e-9:
        for a in agents:
            await until(_idle(a), what="idle pod workers")
        await asyncio.sleep(0.01)
        d = min(step, left)
        clock.advance(d)
        left -= d
        await asyncio.sleep(0.01)


def _idle(agent: Any) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(agent.idle())
    return check


def make_pod(name: str, node: str = "n1", *, annotations: dict[str, str] | None = None,
             containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
            "spec": {"nodeName": node, "containers": containers or [{"name": "app", "image": "busybox:1.36"}],
                     **spec}}


async def get_pod(client: Client, name: str) -> dict[str, Any] | None:
    try:
        return await client.get(POD, name, "default")
    except ApiStatusError as e:
        if is_not_found(e):
            return None
        raise


def cstatus(pod: dict[str, Any] | None, name: str = "app", init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for s in ((pod or {}).get("status") or {}).get(key) or []:
        if s["name"] == name:
            return dict(s)
    return {}


def condition(pod: dict[str, Any] | None, typ: str) -> dict[str, Any]:
    for c in ((pod or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == typ:
            return dict(c)
    return {}


@contextlib.asynccontextmanager
async def sim_agent(tmp_path: Any, node: str = "n1", **kw: Any) -> AsyncIterator[tuple[NodeAgent, Client, FakeClock]]:
    clock = FakeClock()
    async with running_apiserver(qps=1000.0, burst=2000) as (_srv, client):
        rt = SimulatedRuntime(clock, node_name=node)
        agent = NodeAgent(client, rt, node_name=node, data_dir=str(tmp_path), clock=clock, **kw)
        await agent.start()
        try:
            yield agent, client, clock
        finally:
            await agent.stop()
