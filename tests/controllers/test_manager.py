"""Controller manager: --controllers selection and leader election."""

from __future__ import annotations

import asyncio

import pytest

from tests.controllers.test_podcontrol import wait_for
from tests.support.apiserver import running_apiserver
from tugboat.client import InformerFactory
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.manager import (
    LEASE_NAME,
    LEASE_NAMESPACE,
    ControllerManager,
    is_enabled,
    select_controllers,
)


def test_controller_selection_like_upstream_flag() -> None:
    all_default = select_controllers(None)
    assert {"deployment", "replicaset", "replicationcontroller", "garbagecollector"} <= set(all_default)
    assert "deployment" not in select_controllers(["*", "-deployment"])
    assert select_controllers(["replicaset"]) == ["replicaset"]
    assert not is_enabled("x", False, ["*"])  # off by default stays off under *
    assert is_enabled("x", False, ["*", "x"])
    assert not is_enabled("x", True, ["-x", "x"])  # first mention wins
    with pytest.raises(ValueError, match="not in the list of known controllers"):
        select_controllers(["nosuch"])


async def test_only_the_lease_holder_runs_controllers() -> None:
    async with running_apiserver() as (_server, client):
        def mgr(ident: str) -> ControllerManager:
            return ControllerManager(ControllerContext(client, InformerFactory(client)), ["replicaset"],
                                     leader_elect=True, identity=ident, lease_duration=3, renew_deadline=2,
                                     retry_period=0.2)
        a, b = mgr("a"), mgr("b")
        ta = asyncio.create_task(a.run())
        await asyncio.wait_for(a.running.wait(), 10)
        tb = asyncio.create_task(b.run())
        try:
            await asyncio.sleep(0.6)
            assert a.running.is_set() and not b.running.is_set()
            lease = await client.get(a.ctx.rt("coordination.k8s.io", "v1", "leases"), LEASE_NAME, LEASE_NAMESPACE)
            assert lease["spec"]["holderIdentity"] == "a"
            await a.stop()  # releases the lease: b takes over promptly
            await asyncio.wait_for(ta, 5)  # and run() returns
            await wait_for(lambda: _is_set(b), timeout=10, what="b leads")
        finally:
            await b.stop()
            tb.cancel()
            await asyncio.gather(ta, tb, return_exceptions=True)


async def _is_set(m: ControllerManager) -> bool:
    return m.running.is_set()
