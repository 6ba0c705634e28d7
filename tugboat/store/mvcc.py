"""In-memory multi-version state shared by the memory and SQLite backends.

Holds the live keys (sorted, for prefix listing), the event history back to the compacted
revision (for watch resumption and for listing at an older revision by rolling back), and
the open watches. Reads and watches are served from here, never by polling a database:
that is the lesson of kine's SQLite driver, whose polling and GROUP BY queries are its
known bottleneck.

Not thread-safe: it lives on the event loop that owns the backend.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import AsyncIterator

from .backend import (
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    ListResult,
    NotFoundError,
)

# A watcher whose undelivered backlog exceeds this many batches is ended with CompactedError
# (the client re-lists), so one stuck reader cannot hold unbounded memory.
MAX_WATCH_BACKLOG = 100_000


class MemWatch:
    def __init__(self, state: MvccState, prefix: str, after: int):
        self._state = state
        self.prefix = prefix
        self._queue: deque[list[Event]] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._error: Exception | None = None
        if after < state.compacted:
            self._error = CompactedError(after, state.compacted)
            return
        backlog = [e for e in state.history_after(after) if e.kv.key.startswith(prefix)]
        if backlog:
            self._queue.append(backlog)
            self._wakeup.set()
        state.watchers.add(self)

    def _push(self, events: list[Event]) -> None:
        mine = [e for e in events if e.kv.key.startswith(self.prefix)] if self.prefix else events
        if not mine:
            return
        if len(self._queue) >= MAX_WATCH_BACKLOG:
            self._fail(CompactedError(mine[0].revision - 1, self._state.compacted))
            return
        self._queue.append(mine)
        self._wakeup.set()

    def _fail(self, err: Exception) -> None:
        self._error = err
        self._queue.clear()
        self._state.watchers.discard(self)
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[list[Event]]:
        while True:
            if self._queue:
                yield self._queue.popleft()
                continue
            if self._error is not None:
                raise self._error
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def close(self) -> None:
        self._closed = True
        self._state.watchers.discard(self)
        self._wakeup.set()


class MvccState:
    def __init__(self) -> None:
        self.rev = 0
        self.compacted = 0
        self.data: dict[str, KeyValue] = {}
        self.keys: list[str] = []  # sorted live keys
        self.history: deque[Event] = deque()  # events with revision > compacted, in order
        self.watchers: set[MemWatch] = set()

    # ---- checks (raise on failure; do not change anything) -------------------------------
    def check_create(self, key: str) -> None:
        if key in self.data:
            raise KeyExistsError(key)

    def check_update(self, key: str, expected_revision: int) -> KeyValue:
        cur = self.data.get(key)
        if cur is None:
            raise NotFoundError(key)
        if expected_revision and cur.mod_revision != expected_revision:
            raise ConflictError(key, cur)
        return cur

    # ---- mutations --------------------------------------------------------------------
    def put(self, key: str, value: bytes, rev: int | None = None, create_revision: int = 0) -> Event:
        """Store `value` at the next revision (or `rev`, when replaying a log). A replay passes
        the stored `create_revision` too: the key's creating row may have been compacted away."""
        self.rev = rev if rev is not None else self.rev + 1
        prev = self.data.get(key)
        crev = create_revision or (prev.create_revision if prev else self.rev)
        kv = KeyValue(key, value, crev, self.rev)
        if prev is None:
            bisect.insort(self.keys, key)
        self.data[key] = kv
        ev = Event("PUT", kv, prev)
        self.history.append(ev)
        return ev

    def remove(self, key: str, rev: int | None = None) -> Event:
        self.rev = rev if rev is not None else self.rev + 1
        prev = self.data.pop(key)
        i = bisect.bisect_left(self.keys, key)
        del self.keys[i]
        ev = Event("DELETE", KeyValue(key, prev.value, prev.create_revision, self.rev), prev)
        self.history.append(ev)
        return ev

    def notify(self, events: list[Event]) -> None:
        for w in list(self.watchers):
            w._push(events)

    def close_watchers(self) -> None:
        for w in list(self.watchers):
            w._closed = True
            w._wakeup.set()
        self.watchers.clear()

    def compact(self, revision: int) -> None:
        revision = min(revision, self.rev)
        while self.history and self.history[0].revision <= revision:
            self.history.popleft()
        self.compacted = max(self.compacted, revision)

    # ---- reads ------------------------------------------------------------------------
    def history_after(self, after: int) -> list[Event]:
        h = self.history
        if not h or h[-1].revision <= after:
            return []
        # history revisions increase; find the first index with revision > after
        lo, hi = 0, len(h)
        while lo < hi:
            mid = (lo + hi) // 2
            if h[mid].revision <= after:
                lo = mid + 1
            else:
                hi = mid
        return [h[i] for i in range(lo, len(h))]

    def _check_revision(self, revision: int) -> None:
        if revision > self.rev:
            raise FutureRevisionError(revision, self.rev)
        if revision and revision < self.compacted:
            raise CompactedError(revision, self.compacted)

    def _overrides(self, revision: int, prefix: str) -> dict[str, KeyValue | None]:
        """key → its value as of `revision`, for keys changed since then."""
        out: dict[str, KeyValue | None] = {}
        for ev in self.history_after(revision):
            k = ev.kv.key
            if k in out or not k.startswith(prefix):
                continue
            # The first change after `revision` tells what the key held at `revision`.
            out[k] = ev.prev
        return out

    def get(self, key: str, revision: int = 0) -> KeyValue | None:
        if not revision or revision == self.rev:
            return self.data.get(key)
        self._check_revision(revision)
        over = self._overrides(revision, key)
        if key in over:
            return over[key]
        return self.data.get(key)

    def list(self, prefix: str, start_after: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        if revision and revision != self.rev:
            self._check_revision(revision)
            return self._list_at(prefix, start_after, limit, revision)
        keys = self.keys
        start = bisect.bisect_right(keys, start_after) if start_after >= prefix else bisect.bisect_left(keys, prefix)
        end = bisect.bisect_left(keys, prefix + "\uffff", lo=start)
        stop = end if not limit else min(end, start + limit)
        items = [self.data[keys[i]] for i in range(start, stop)]
        return ListResult(self.rev, items, stop < end, end - stop)

    def _list_at(self, prefix: str, start_after: str, limit: int, revision: int) -> ListResult:
        over = self._overrides(revision, prefix)
        merged: dict[str, KeyValue] = {}
        lo = bisect.bisect_left(self.keys, prefix)
        hi = bisect.bisect_left(self.keys, prefix + "\uffff", lo=lo)
        for i in range(lo, hi):
            k = self.keys[i]
            if k not in over:
                merged[k] = self.data[k]
        for k, kv in over.items():
            if kv is not None:
                merged[k] = kv
        ordered = sorted(k for k in merged if k > start_after)
        cut = ordered[:limit] if limit else ordered
        return ListResult(revision, [merged[k] for k in cut], len(cut) < len(ordered), len(ordered) - len(cut))

    def count(self, prefix: str) -> int:
        lo = bisect.bisect_left(self.keys, prefix)
        hi = bisect.bisect_left(self.keys, prefix + "\uffff", lo=lo)
        return hi - lo
