"""One worker task per pod UID: level-triggered, never two syncs of one pod at once.

A worker sleeps until it is kicked (its pod changed, a container of it exited, a probe
result flipped) or until the time its last sync asked for (a back-off expiring) or the
periodic resync, then runs `PodSyncer.sync`. Kicks that arrive during a sync are not lost:
the event stays set and the loop runs again. A failing sync is retried with back-off
(1 s doubling to 30 s) so one bad pod never stalls the agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tugboat.client.clock import AsyncClock
from tugboat.node.podsync import DONE, PodRecord, PodSyncer

log = logging.getLogger(__name__)


class PodWorker:
    def __init__(self, rec: PodRecord, syncer: PodSyncer, clock: AsyncClock, resync: float,
                 on_exit: Callable[[str], None]):
        self.rec = rec
        self.syncer = syncer
        self.clock = clock
        self.resync = resync
        self.on_exit = on_exit
        self.kicked = asyncio.Event()
        self.kicked.set()
        self.syncs = 0
        self.busy = False  # inside a sync (tests wait for all workers to be idle before moving a FakeClock)
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run(), name=f"pod-{rec.uid}")

    def kick(self) -> None:
        self.kicked.set()

    async def _wait(self, delay: float) -> None:
        if self.kicked.is_set():
            return
        if delay <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.ensure_future(self.kicked.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _run(self) -> None:
        err_delay = 1.0
        delay = self.resync
        try:
            while True:
                await self._wait(delay)
                self.kicked.clear()
                self.busy = True
                try:
                    r = await self.syncer.sync(self.rec)
                    err_delay = 1.0
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - never crash the agent on one pod
                    log.exception("pod %s: sync failed", self.rec.uid)
                    r = err_delay
                    err_delay = min(err_delay * 2, 30.0)
                self.busy = False
                self.syncs += 1
                if r == DONE:
                    return
                delay = self.resync if r is None else min(r, self.resync)
        finally:
            self.on_exit(self.rec.uid)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    @property
    def idle(self) -> bool:
        return not self.busy and not self.kicked.is_set()
