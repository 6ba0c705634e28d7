"""Node IPAM: unique /24s from 10.244.0.0/16, reused after a node is deleted, rebuilt on restart."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.nodeipam import CidrSet, NodeIpamController

S = default_scheme()


NODES = _rt("", "v1", "nodes")


@contextlib.asynccontextmanager
async def ipam(client: Client) -> AsyncIterator[NodeIpamController]:
    ctx = ControllerContext(client, InformerFactory(client))
    ctrl = NodeIpamController(ctx)
    ctrl.setup()
    ctx.informers.start()
    assert await ctx.informers.wait_for_sync(10)
    task = asyncio.create_task(ctrl.run())
    try:
        yield ctrl
    finally:
        await ctrl.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctx.informers.stop()


async def cidr_of(client: Client, name: str) -> str | None:
    spec = (await client.get(NODES, name)).get("spec") or {}
    if spec.get("podCIDR"):
        assert spec["podCIDRs"] == [spec["podCIDR"]]
    return spec.get("podCIDR")


async def test_unique_cidrs_reused_after_delete_and_rebuilt_after_restart() -> None:
    async with running_apiserver() as (_srv, client):
        async with ipam(client) as ctrl:
            for n in ("a", "b", "c"):
                await client.create(NODES, {"metadata": {"name": n}})
            got = {n: await eventually(functools.partial(cidr_of, client, n)) for n in ("a", "b", "c")}
            assert sorted(got.values()) == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
            await client.delete(NODES, "b")

            async def released() -> bool:
                return "b" not in ctrl.assigned
            await eventually(released)
            await client.create(NODES, {"metadata": {"name": "d"}})
            assert await eventually(lambda: cidr_of(client, "d")) == got["b"]
        # A new controller (a restart) rebuilds occupancy from the nodes: no duplicates.
        async with ipam(client):
            await client.create(NODES, {"metadata": {"name": "e"}})
            assert await eventually(lambda: cidr_of(client, "e")) == "10.244.3.0/24"


def test_cidr_set_bounds() -> None:
    s = CidrSet("10.244.0.0/30", 31)
    assert [s.allocate(), s.allocate(), s.allocate()] == ["10.244.0.0/31", "10.244.0.2/31", None]
    s.release("10.244.0.2/31")
    s.occupy("192.168.0.0/31")  # outside the range: ignored
    assert s.allocate() == "10.244.0.2/31"
    with pytest.raises(ValueError):
        CidrSet("10.0.0.0/16", 8)
