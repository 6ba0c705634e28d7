"""Image garbage collection on a node, on the kubelet's schedule.

Every `period` seconds (kubelet: 5 min) the agent asks the image service to remove unused
images while the image filesystem is above `high_percent` full, down to `low_percent`
(kubelet defaults 85 / 80). The image service never removes an image a container still uses.
Runs as an agent service (NodeAgent.add_service) so it starts and stops with the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


class ImageGC:
    def __init__(self, images: Any, *, period: float = 300.0, high_percent: int = 85, low_percent: int = 80):
        if not 0 <= low_percent < high_percent <= 100:
            raise ValueError("image GC thresholds need 0 <= low < high <= 100")
        self.images = images
        self.period = period
        self.high = high_percent
        self.low = low_percent
        self.runs = 0
        self.freed = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="image-gc")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def collect_once(self) -> int:
        freed = int(await self.images.garbage_collect(self.high, self.low))
        self.runs += 1
        self.freed += freed
        if freed:
            log.info("image GC freed %d bytes", freed)
        return freed

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.collect_once()
            except Exception:  # noqa: BLE001 - GC trouble must never stop the agent
                log.exception("image garbage collection failed")
