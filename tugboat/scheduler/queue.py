"""The scheduling queue: activeQ, backoffQ and the unschedulable pods, as upstream's
PriorityQueue.

* activeQ pops the highest spec.priority first, then the earliest queued (a new pod is queued
  at its creationTimestamp, so equal-priority pods go in creation order).
* A pod that failed with an error waits out a per-pod back-off in backoffQ: 1 s, doubling per
  attempt, capped at 10 s.
* A pod no node fits waits in the unschedulable set until a cluster event that could help
  happens (a plugin that rejected it lists that event), then goes to backoffQ (or straight to
  activeQ if its back-off already expired). If such an event arrived while the pod was being
  scheduled, it skips the unschedulable set (upstream's moveRequestCycle). Every pod left
  there longer than 5 minutes is retried anyway.
* Pods with spec.schedulingGates wait, gated, until an update removes the gates.

`run()` is the housekeeping loop (flush backoffQ every second, leftovers every 30 s) on the
injected clock, so tests drive time with FakeClock.advance().
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from tugboat.client.clock import AsyncClock, RealClock
from tugboat.scheduler.events import UNSCHEDULABLE_TIMEOUT
from tugboat.scheduler.podinfo import PodInfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE = 300.0


class QueuedPodInfo:
    __slots__ = ("pi", "timestamp", "attempts", "unschedulable_plugins", "seq", "unschedulable_since")

    def __init__(self, pi: PodInfo, timestamp: float):
        self.pi = pi
        self.timestamp = timestamp
        self.attempts = 0
        self.unschedulable_plugins: set[str] = set()
        self.seq = 0
        self.unschedulable_since = 0.0

    @property
    def key(self) -> str:
        return self.pi.key

    def __repr__(self) -> str:
        return f"QueuedPodInfo({self.pi.key}, attempts={self.attempts})"


class SchedulingQueue:
    def __init__(self, clock: AsyncClock | None = None, *, initial_backoff: float = INITIAL_BACKOFF,
                 max_backoff: float = MAX_BACKOFF, max_unschedulable: float = MAX_UNSCHEDULABLE,
                 plugins_for_event: Callable[[str], set[str]] | None = None):
        self.clock: AsyncClock = clock or RealClock()
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.plugins_for_event = plugins_for_event or (lambda _e: set())
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self.pods: dict[str, QueuedPodInfo] = {}  # key -> info, for every pod the queue holds
        self.where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable" | "gated" | "inflight"
        self.unschedulable: dict[str, QueuedPodInfo] = {}
        self._seq = itertools.count(1)
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self._wake = asyncio.Event()
        self._closed = False

    # -- helpers -------------------------------------------------------------------------------

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        d = self.initial_backoff
        for _ in range(1, qpi.attempts):
            d *= 2
            if d >= self.max_backoff:
                return self.max_backoff
        return d

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        self.unschedulable.pop(qpi.key, None)
        qpi.seq = next(self._seq)
        self.where[qpi.key] = "active"
        heapq.heappush(self._active, (-qpi.pi.priority, qpi.timestamp, qpi.seq, qpi.key))
        self._wake.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        self.unschedulable.pop(qpi.key, None)
        qpi.seq = next(self._seq)
        self.where[qpi.key] = "backoff"
        heapq.heappush(self._backoff, (self.backoff_expiry(qpi), qpi.seq, qpi.key))

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        """From unschedulable/in-flight to backoffQ, or activeQ when the back-off is over."""
        if qpi.attempts and self.backoff_expiry(qpi) > self.clock.time():
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    @staticmethod
    def _gated(pi: PodInfo) -> bool:
        return bool((pi.pod.get("spec") or {}).get("schedulingGates"))

    # -- pod events ----------------------------------------------------------------------------

    def add(self, pi: PodInfo, timestamp: float | None = None) -> None:
        if pi.key in self.pods:
            self.update(pi)
            return
        qpi = QueuedPodInfo(pi, self.clock.time() if timestamp is None else timestamp)
        self.pods[pi.key] = qpi
        if self._gated(pi):
            self.where[pi.key] = "gated"
        else:
            self._push_active(qpi)

    def update(self, pi: PodInfo, spec_changed: bool = True) -> None:
        qpi = self.pods.get(pi.key)
        if qpi is None:
            self.add(pi)
            return
        old_prio = qpi.pi.priority
        qpi.pi = pi
        where = self.where.get(pi.key)
        if where == "gated":
            if not self._gated(pi):
                self._push_active(qpi)
        elif where == "active" and pi.priority != old_prio:
            self._push_active(qpi)  # re-sort; the stale heap entry is skipped by seq
        elif where == "unschedulable" and spec_changed:
            self._requeue(qpi)

    def delete(self, key: str) -> None:
        self.pods.pop(key, None)
        self.where.pop(key, None)
        self.unschedulable.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self.pods

    def __len__(self) -> int:
        return len(self.pods)

    # -- scheduling ----------------------------------------------------------------------------

    def pop_nowait(self) -> QueuedPodInfo | None:
        self.flush_backoff()
        while self._active:
            _, _, seq, key = heapq.heappop(self._active)
            qpi = self.pods.get(key)
            if qpi is None or qpi.seq != seq or self.where.get(key) != "active":
                continue
            self.where[key] = "inflight"
            qpi.attempts += 1
            self.scheduling_cycle += 1
            return qpi
        self._wake.clear()
        return None

    async def pop(self) -> QueuedPodInfo:
        while True:
            qpi = self.pop_nowait()
            if qpi is not None:
                return qpi
            if self._closed:
                raise asyncio.CancelledError
            await self._wake.wait()

    def done(self, key: str) -> None:
        """The pod was scheduled (assumed): the queue forgets it."""
        if self.where.get(key) == "inflight":
            self.delete(key)

    def add_unschedulable(self, qpi: QueuedPodInfo, plugins: Iterable[str], cycle: int) -> None:
        if self.pods.get(qpi.key) is not qpi:
            return  # deleted (or replaced) while it was being scheduled
        qpi.timestamp = self.clock.time()
        qpi.unschedulable_plugins = set(plugins)
        if self.move_request_cycle >= cycle:
            self._push_backoff(qpi)
        else:
            qpi.unschedulable_since = qpi.timestamp
            self.where[qpi.key] = "unschedulable"
            self.unschedulable[qpi.key] = qpi

    def add_backoff(self, qpi: QueuedPodInfo) -> None:
        """After an error (bind failure, API error): retry after the back-off."""
        if self.pods.get(qpi.key) is not qpi:
            self.pods[qpi.key] = qpi
        qpi.timestamp = self.clock.time()
        self._push_backoff(qpi)

    # -- cluster events ------------------------------------------------------------------------

    def move_all(self, event: str, pods: Iterable[QueuedPodInfo] | None = None) -> int:
        """Move unschedulable pods a plugin of which cares about `event`; returns how many."""
        interested = self.plugins_for_event(event)
        moved = 0
        self.move_request_cycle = self.scheduling_cycle
        if pods is None and not self.unschedulable:
            return 0
        cands = list(pods if pods is not None else self.unschedulable.values())
        for qpi in cands:
            if self.where.get(qpi.key) != "unschedulable":
                continue
            if event == UNSCHEDULABLE_TIMEOUT or not qpi.unschedulable_plugins or qpi.unschedulable_plugins & interested:
                self._requeue(qpi)
                moved += 1
        return moved

    def flush_backoff(self) -> None:
        now = self.clock.time()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qpi = self.pods.get(key)
            if qpi is not None and qpi.seq == seq and self.where.get(key) == "backoff":
                self._push_active(qpi)

    def flush_unschedulable_leftover(self) -> None:
        now = self.clock.time()
        old = [q for q in self.unschedulable.values() if now - q.unschedulable_since >= self.max_unschedulable]
        if old:
            self.move_all(UNSCHEDULABLE_TIMEOUT, old)

    def pending(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, w in self.where.items():
            out.setdefault(w, []).append(k)
        return out

    async def run(self) -> None:
        ticks = 0
        while True:
            await self.clock.sleep(1.0)
            ticks += 1
            self.flush_backoff()
            if ticks % 30 == 0:
                self.flush_unschedulable_leftover()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def stats(self) -> dict[str, Any]:
        return {w: len(v) for w, v in self.pending().items()}
