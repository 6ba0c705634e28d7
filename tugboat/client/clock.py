"""Clocks that can also *sleep*, so work-queue delays and leader leases are testable.

`tugboat.util.clock` gives wall and monotonic time; client code also has to wait (add_after,
lease renewals, back-off). `RealClock.sleep` is `asyncio.sleep`; `FakeClock.sleep` parks the
caller until a test calls `advance()` past its deadline, so a 1000 s back-off takes no time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime
from typing import Protocol

from tugboat.util.clock import Clock as _Clock
from tugboat.util.clock import FakeClock as _FakeClock


class AsyncClock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock(_Clock):
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock(_FakeClock):
    """Time stands still until `advance()`; sleepers wake when their deadline has passed."""

    def __init__(self, start: float = 1_700_000_000.0):
        super().__init__(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.m + seconds, next(self._seq), fut))
        await fut

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        while self._sleepers and self._sleepers[0][0] <= self.m:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (tests use it to know a task is parked)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())


def micro_time(ts: float) -> str:
    """metav1.MicroTime form (`2006-01-02T15:04:05.000000Z`), used by Lease and Event times."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
