"""Memory backend: the MVCC state with no persistence. For unit tests and simulations.

Writes yield to the event loop once (as every real backend does while it waits for disk or
network), so a caller looping over writes cannot starve watchers and other tasks.
"""

from __future__ import annotations

import asyncio

from .backend import KeyValue, ListResult, NotFoundError
from .compactor import Compactor
from .mvcc import MemWatch, MvccState


class MemoryBackend:
    def __init__(self, *, compact_interval: float | None = None) -> None:
        self.state = MvccState()
        self.compactor = Compactor(self, interval=compact_interval) if compact_interval else None

    async def start(self) -> None:
        if self.compactor is not None:
            self.compactor.start()

    async def close(self) -> None:
        if self.compactor is not None:
            await self.compactor.stop()
        self.state.close_watchers()

    async def current_revision(self) -> int:
        return self.state.rev

    async def compacted_revision(self) -> int:
        return self.state.compacted

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        return self.state.get(key, revision)

    async def list(self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        return self.state.list(prefix, start_after, limit, revision)

    async def count(self, prefix: str) -> int:
        return self.state.count(prefix)

    async def create(self, key: str, value: bytes) -> int:
        await asyncio.sleep(0)
        self.state.check_create(key)
        ev = self.state.put(key, value)
        self.state.notify([ev])
        return ev.revision

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        await asyncio.sleep(0)
        self.state.check_update(key, expected_revision)
        ev = self.state.put(key, value)
        self.state.notify([ev])
        return ev.revision

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KeyValue]:
        await asyncio.sleep(0)
        if key not in self.state.data:
            raise NotFoundError(key)
        self.state.check_update(key, expected_revision)
        ev = self.state.remove(key)
        self.state.notify([ev])
        assert ev.prev is not None
        return ev.revision, ev.prev

    def watch(self, prefix: str, after_revision: int) -> MemWatch:
        return MemWatch(self.state, prefix, after_revision)

    async def compact(self, revision: int) -> None:
        self.state.compact(revision)
