"""What plugins may reach: the cache, the API client, listers, nominations, the framework.

Plugins get this instead of the Scheduler so they stay small, testable with a bare Handle
(tests build one around a Cache and no client), and never import one another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from tugboat.client.clock import AsyncClock, RealClock
from tugboat.scheduler.cache import Cache
from tugboat.scheduler.podinfo import PodInfo

if TYPE_CHECKING:
    from tugboat.client import Client, EventRecorder, Lister
    from tugboat.scheduler.framework import Framework

log = logging.getLogger(__name__)


class Handle:
    def __init__(self, cache: Cache | None = None, *, client: Client | None = None,
                 listers: Mapping[str, Lister] | None = None, clock: AsyncClock | None = None):
        self.cache = cache or Cache()
        self.client = client
        self.listers: dict[str, Lister] = dict(listers or {})
        self.clock: AsyncClock = clock or RealClock()
        self.framework: Framework | None = None
        self.nominated: dict[str, dict[str, PodInfo]] = {}  # node -> pod key -> pod
        self.recorders: dict[str, EventRecorder] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def lister(self, name: str) -> Lister | None:
        return self.listers.get(name)

    # -- nominations (preemption) --------------------------------------------------------------

    def nominate(self, pi: PodInfo, node: str) -> None:
        self.clear_nomination(pi.key)
        if node:
            pi.nominated_node = node
            self.nominated.setdefault(node, {})[pi.key] = pi

    def clear_nomination(self, key: str) -> None:
        for node, pods in list(self.nominated.items()):
            if pods.pop(key, None) is not None and not pods:
                del self.nominated[node]

    def nominated_pods(self, node: str) -> list[PodInfo]:
        pods = self.nominated.get(node)
        return list(pods.values()) if pods else []

    # -- background work -----------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._done)
        return t

    def _done(self, t: asyncio.Task[Any]) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("scheduler background task failed", exc_info=t.exception())

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
