from __future__ import annotations

import asyncio

import pytest

from tests.client.fakeserver import FakeApiServer
from tugboat.client.clock import FakeClock
from tugboat.client.leaderelection import LEASE, LeaderElectionConfig, LeaderElector
from tugboat.client.rest import Client


async def drive(clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await asyncio.sleep(0.01)


def elector(c: Client, clock: FakeClock, ident: str, log: list[str], release: bool = True) -> LeaderElector:
    cfg = LeaderElectionConfig("ctrl", "kube-system", ident, release_on_cancel=release,
                               on_started_leading=lambda: log.append(f"start {ident}"),
                               on_stopped_leading=lambda: log.append(f"stop {ident}"))
    return LeaderElector(c, cfg, clock)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        LeaderElectionConfig("x", "ns", "me", lease_duration=5, renew_deadline=10)


async def test_one_leader_then_takeover_after_expiry(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    clock = FakeClock()
    log: list[str] = []
    a, b = elector(c, clock, "a", log, release=False), elector(c, clock, "b", log, release=False)
    ta = asyncio.create_task(a.run())
    await asyncio.sleep(0.05)
    tb = asyncio.create_task(b.run())
    try:
        await drive(clock, 20)
        assert (a.is_leader, b.is_leader) == (True, False)
        assert b.leader == "a"
        lease = await c.get(LEASE, "ctrl", "kube-system")
        spec = lease["spec"]
        assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 15
        assert spec["leaseTransitions"] == 0 and spec["acquireTime"].endswith("Z")
        assert spec["renewTime"] > spec["acquireTime"]  # renewed while leading
        # "a" dies without releasing: "b" must wait out the lease as seen on its own clock.
        ta.cancel()
        await asyncio.gather(ta, return_exceptions=True)
        await drive(clock, 10)
        assert not b.is_leader
        await drive(clock, 10)
        assert b.is_leader
        spec = (await c.get(LEASE, "ctrl", "kube-system"))["spec"]
        assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
        assert log[:1] == ["start a"] and "start b" in log
    finally:
        for t in (ta, tb):
            t.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)


async def test_release_on_cancel_hands_over_quickly(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    clock = FakeClock()
    log: list[str] = []
    a, b = elector(c, clock, "a", log), elector(c, clock, "b", log)
    ta = asyncio.create_task(a.run())
    await drive(clock, 1)
    tb = asyncio.create_task(b.run())
    try:
        await drive(clock, 4)
        assert a.is_leader and not b.is_leader
        ta.cancel()
        await asyncio.gather(ta, return_exceptions=True)
        assert log == ["start a", "stop a"]
        spec = (await c.get(LEASE, "ctrl", "kube-system"))["spec"]
        assert "holderIdentity" not in spec and spec["leaseDurationSeconds"] == 1
        await drive(clock, 3)  # one retry period, not a whole lease duration
        assert b.is_leader
    finally:
        tb.cancel()
        await asyncio.gather(tb, return_exceptions=True)


async def test_leader_steps_down_when_it_cannot_renew(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    clock = FakeClock()
    log: list[str] = []
    a = elector(c, clock, "a", log, release=False)
    ta = asyncio.create_task(a.run())
    try:
        await drive(clock, 3)
        assert a.is_leader
        c.max_retries = 0
        api.fail("GET", 500, times=10_000, path_contains="/leases/")
        await drive(clock, 12)
        assert ta.done() and not a.is_leader
        assert log == ["start a", "stop a"]
    finally:
        ta.cancel()
        await asyncio.gather(ta, return_exceptions=True)
