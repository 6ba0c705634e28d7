"""Rate-limited work queue with client-go semantics, for level-triggered controllers.

Guarantees controllers rely on:
* A key waiting in the queue is held once however often it is added (`dirty` set).
* A key is never handed to two workers at once: adds while it is being processed are held
  back and re-queued when the worker calls `done(key)` (`processing` set).
* `add_after(key, delay)` delays an add; if the key is already waiting, the earlier time wins.
* `add_rate_limited(key)` = add_after with the larger of a per-key exponential back-off
  (5 ms doubling to 1000 s) and an overall token bucket (10 qps, burst 100). `forget(key)`
  resets the per-key count on success; `num_requeues(key)` reads it.
Time comes from an injectable clock (`tugboat.client.clock.FakeClock` in tests).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from tugboat.client.clock import AsyncClock, RealClock
from tugboat.client.ratelimit import TokenBucket

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """`get()` on a queue that is shut down and empty."""


class ItemExponentialRateLimiter(Generic[T]):
    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.failures: dict[T, int] = {}

    def when(self, item: T, now: float) -> float:
        n = self.failures.get(item, 0)
        self.failures[item] = n + 1
        if n > 60:  # 2**n overflows float precision long before; the cap applies anyway
            return self.max_delay
        return min(self.base_delay * (2 ** n), self.max_delay)

    def forget(self, item: T) -> None:
        self.failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self.failures.get(item, 0)


class BucketRateLimiter(Generic[T]):
    def __init__(self, qps: float = 10.0, burst: int = 100):
        self.bucket = TokenBucket(qps, burst)

    def when(self, item: T, now: float) -> float:
        return self.bucket.reserve(now)

    def forget(self, item: T) -> None:
        pass

    def num_requeues(self, item: T) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    def __init__(self, *limiters: ItemExponentialRateLimiter[T] | BucketRateLimiter[T]):
        self.limiters = limiters

    def when(self, item: T, now: float) -> float:
        return max(lim.when(item, now) for lim in self.limiters)

    def forget(self, item: T) -> None:
        for lim in self.limiters:
            lim.forget(item)

    def num_requeues(self, item: T) -> int:
        return max(lim.num_requeues(item) for lim in self.limiters)


def default_controller_rate_limiter() -> MaxOfRateLimiter[Hashable]:
    return MaxOfRateLimiter(ItemExponentialRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class WorkQueue(Generic[T]):
    def __init__(self, name: str = "", *, clock: AsyncClock | None = None,
                 rate_limiter: MaxOfRateLimiter[T] | ItemExponentialRateLimiter[T] | BucketRateLimiter[T] | None = None):
        self.name = name
        self.clock: AsyncClock = clock or RealClock()
        self.rate_limiter = rate_limiter or default_controller_rate_limiter()  # type: ignore[assignment]
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._nonempty = asyncio.Event()  # set whenever the queue may have items (or on shutdown)
        # Delayed adds: heap of (ready_at, seq, item) plus the earliest ready time per item.
        self._waiting: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, float] = {}
        self._seq = itertools.count()
        self._waiting_changed = asyncio.Event()
        self._delay_task: asyncio.Task[None] | None = None

    # -- basic queue ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._notify()

    def _notify(self) -> None:
        self._nonempty.set()

    async def get(self) -> T:
        """Wait for a key and mark it processing; raise ShutDown once shut down and drained."""
        while not self._queue and not self._shutting_down:
            self._nonempty.clear()
            await self._nonempty.wait()
        if not self._queue:
            raise ShutDown()
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._notify()

    def is_processing(self, item: T) -> bool:
        return item in self._processing

    def shutdown(self) -> None:
        self._shutting_down = True
        self._waiting_changed.set()
        self._nonempty.set()
        if self._delay_task is not None:
            self._delay_task.cancel()

    # -- delaying ------------------------------------------------------------------------------

    def add_after(self, item: T, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready = self.clock.monotonic() + delay
        prev = self._ready_at.get(item)
        if prev is not None and prev <= ready:
            return
        self._ready_at[item] = ready
        heapq.heappush(self._waiting, (ready, next(self._seq), item))
        self._waiting_changed.set()
        if self._delay_task is None or self._delay_task.done():
            self._delay_task = asyncio.get_running_loop().create_task(self._delay_loop())

    @property
    def waiting(self) -> int:
        """How many keys are waiting for their add_after time."""
        return len(self._ready_at)

    async def _delay_loop(self) -> None:
        while not self._shutting_down:
            now = self.clock.monotonic()
            while self._waiting and self._waiting[0][0] <= now:
                ready, _, item = heapq.heappop(self._waiting)
                if self._ready_at.get(item) == ready:  # else superseded by an earlier add_after
                    del self._ready_at[item]
                    self.add(item)
            self._waiting_changed.clear()
            if not self._waiting:
                await self._waiting_changed.wait()
                continue
            sleep = asyncio.ensure_future(self.clock.sleep(self._waiting[0][0] - now))
            changed = asyncio.ensure_future(self._waiting_changed.wait())
            try:
                await asyncio.wait({sleep, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleep.cancel()
                changed.cancel()

    # -- rate limiting -------------------------------------------------------------------------

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self.rate_limiter.when(item, self.clock.monotonic()))

    def forget(self, item: T) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
