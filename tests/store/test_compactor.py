"""The retention policy: at least `min_age` seconds AND `min_revisions` revisions are kept."""

from __future__ import annotations

import asyncio

from tugboat.store.compactor import Compactor


class FakeBackend:
    def __init__(self) -> None:
        self.rev = 0
        self.compacted = 0
        self.calls: list[int] = []
        self.fail = False

    async def current_revision(self) -> int:
        return self.rev

    async def compacted_revision(self) -> int:
        return self.compacted

    async def compact(self, revision: int) -> None:
        self.calls.append(revision)
        if self.fail:
            raise RuntimeError("disk full")
        self.compacted = revision


async def test_keeps_min_age_of_history() -> None:
    b, now = FakeBackend(), [0.0]
    c = Compactor(b, clock=lambda: now[0], min_age=300, min_revisions=10)
    b.rev = 5000
    assert await c.tick() == 0
    now[0], b.rev = 299, 9000
    assert await c.tick() == 0  # the t=0 sample is not yet 300 s old
    now[0], b.rev = 300, 9100
    assert await c.tick() == 5000  # everything up to the t=0 revision is 300 s old
    now[0], b.rev = 400, 9200
    assert await c.tick() == 0  # the t=299 sample is only 101 s old
    now[0] = 600
    assert await c.tick() == 9100  # newest sample that is old enough wins
    assert b.calls == [5000, 9100]


async def test_keeps_min_revisions_of_history() -> None:
    b, now = FakeBackend(), [0.0]
    c = Compactor(b, clock=lambda: now[0], min_age=300, min_revisions=1000)
    b.rev = 500
    await c.tick()
    now[0], b.rev = 1000, 1200
    assert await c.tick() == 200  # 1200 - 1000, though rev 500 is old enough
    now[0], b.rev = 2000, 1300
    assert await c.tick() == 300
    assert b.calls == [200, 300]


async def test_periodic_loop_survives_failures_and_stops() -> None:
    b, now = FakeBackend(), [0.0]
    ticks = asyncio.Queue[None]()

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        b.rev += 2000
        await ticks.put(None)
        await asyncio.sleep(0)

    b.fail = True
    c = Compactor(b, interval=300, clock=lambda: now[0], sleep=fake_sleep)
    c.start()
    for _ in range(3):
        await asyncio.wait_for(ticks.get(), 5)
    assert b.calls and b.compacted == 0  # it tried, failed, and kept going
    b.fail = False
    for _ in range(2):
        await asyncio.wait_for(ticks.get(), 5)
    await c.stop()
    assert b.compacted > 0
    assert b.compacted <= b.rev - 1000
