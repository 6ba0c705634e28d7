"""Run N workers that take keys from a WorkQueue and call `reconcile(key)`.

This is the loop every controller needs, written once: a failed reconcile (exception) is
re-queued with per-key back-off; a successful one forgets the key's failure count. A
reconcile may return a number of seconds to be called again after (periodic re-checks such
as TTLs or CronJob schedules), which also counts as success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from tugboat.client.errors import ApiStatusError
from tugboat.client.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)

Reconcile = Callable[[Any], Awaitable[float | None]]


class Controller:
    def __init__(self, name: str, reconcile: Reconcile, *, workers: int = 1,
                 queue: WorkQueue[Hashable] | None = None, max_retries: int | None = None):
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.queue: WorkQueue[Hashable] = queue if queue is not None else WorkQueue(name)
        self.max_retries = max_retries  # None: retry forever (with capped back-off)
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, key: Hashable) -> None:
        self.queue.add(key)

    async def run(self) -> None:
        """Run the workers until `stop()` (or cancellation)."""
        self._tasks = [asyncio.create_task(self._worker(i), name=f"{self.name}-worker-{i}")
                       for i in range(self.workers)]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for t in self._tasks:
                t.cancel()

    async def _worker(self, _n: int) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                after = await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried with back-off
                if self.max_retries is not None and self.queue.num_requeues(key) >= self.max_retries:
                    log.error("%s: giving up on %r after %d retries: %s", self.name, key,
                              self.queue.num_requeues(key), e)
                    self.queue.forget(key)
                else:
                    # API errors (conflicts above all) are routine; tracebacks only for bugs.
                    log.info("%s: reconcile %r failed (will retry): %s", self.name, key, e,
                             exc_info=not isinstance(e, ApiStatusError))
                    self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if after is not None and after > 0:
                    self.queue.add_after(key, after)
            finally:
                self.queue.done(key)

    async def stop(self) -> None:
        self.queue.shutdown()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
