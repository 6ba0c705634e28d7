"""When to compact: the history-retention policy shared by every backend.

Watch resumption and paginated LISTs need recent history, so we keep at least `min_age`
seconds AND at least `min_revisions` revisions of it (kube-apiserver compacts etcd every
5 minutes; kine keeps 1000 revisions). The policy only picks the revision; the backend's
`compact(rev)` does the work, so one tested class serves SQLite, etcd and memory alike.

How the age is known without timestamps in the store: every tick samples (now, current
revision). Any write after a sample has a higher revision than that sample, so once a sample
is `min_age` old, everything at or below its revision is at least that old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
DEFAULT_MIN_AGE = 300.0
DEFAULT_MIN_REVISIONS = 1000


class Compactable(Protocol):
    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int: ...

    async def compact(self, revision: int) -> None: ...


class Compactor:
    """Calls `backend.compact(target)` every `interval` seconds (see `tick` for the target)."""

    def __init__(
        self,
        backend: Compactable,
        *,
        interval: float = DEFAULT_INTERVAL,
        min_age: float = DEFAULT_MIN_AGE,
        min_revisions: int = DEFAULT_MIN_REVISIONS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.backend = backend
        self.interval = interval
        self.min_age = min_age
        self.min_revisions = min_revisions
        self.clock = clock
        self._sleep = sleep
        self._samples: deque[tuple[float, int]] = deque()
        self._task: asyncio.Task[None] | None = None

    def target(self, now: float, current: int) -> int:
        """The highest revision that is both `min_age` old and `min_revisions` behind."""
        self._samples.append((now, current))
        s = self._samples
        while len(s) >= 2 and now - s[1][0] >= self.min_age:
            s.popleft()  # a newer sample also qualifies
        old_enough = s[0][1] if now - s[0][0] >= self.min_age else 0
        return min(old_enough, current - self.min_revisions)

    async def tick(self) -> int:
        """Sample, and compact if the target moved. Returns the revision compacted to (0: none)."""
        current = await self.backend.current_revision()
        target = self.target(self.clock(), current)
        if target <= 0 or target <= await self.backend.compacted_revision():
            return 0
        await self.backend.compact(target)
        return target

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="store-compactor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed compaction is retried next tick; never kill the loop
                log.exception("store compaction failed")
            await self._sleep(self.interval)
