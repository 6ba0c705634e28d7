"""SQLite backend: the embedded default. Durable log on disk, everything readable in memory.

Writes: GROUP COMMIT. Callers enqueue requests; one writer task takes everything queued,
checks each request's precondition against the committed state plus the earlier, not yet
committed writes of the same batch (so two writes to one key in a batch behave exactly as if
they ran one after the other), INSERTs the batch in one transaction in a worker thread (the
fsync does not block the event loop), and only after COMMIT applies the events to the
in-memory MvccState, notifies watchers and answers the callers. So an acknowledged write is
on disk, and no reader ever sees a write that is not acknowledged — even failed preconditions
are answered after the batch commits, because they may describe a value from the batch.

Reads and watches never touch the file; start() rebuilds the MvccState by replaying the log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .backend import (
    ConflictError,
    Event,
    KeyExistsError,
    KeyValue,
    ListResult,
    NotFoundError,
    StoreError,
)
from .compactor import DEFAULT_INTERVAL, Compactor
from .mvcc import MemWatch, MvccState
from .sqlite_log import Row, SqliteLog

MAX_BATCH = 2000  # requests per transaction
COMPACT_STEP = 2000  # revisions per compaction transaction (keeps the writer's waits short)

_CREATE, _UPDATE, _DELETE = 0, 1, 2


@dataclass(slots=True)
class _Request:
    op: int
    key: str
    value: bytes
    expected: int
    fut: asyncio.Future[Any] = field(repr=False)


_Batch = list[_Request]  # (inside the class, `list` names the method)


class SqliteBackend:
    def __init__(
        self,
        path: str,
        *,
        compact_interval: float | None = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path = path
        self.state = MvccState()
        self._log: SqliteLog | None = None
        self._pending: _Batch = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._db_lock = asyncio.Lock()  # one statement batch on the connection at a time
        self._compact_lock = asyncio.Lock()
        self._db_compacted = 0  # how far the file has been cleaned (meta.compact_rev)
        self.compactor = Compactor(self, interval=compact_interval, clock=clock) if compact_interval else None

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._log = await asyncio.to_thread(SqliteLog, self.path)
        await asyncio.to_thread(self._replay, self._log)
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="sqlite-writer")
        if self.compactor is not None:
            self.compactor.start()

    def _replay(self, log: SqliteLog) -> None:
        st = self.state
        compacted = log.compacted()
        for rev, key, _created, deleted, crev, _prev, value in log.rows():
            if deleted:
                if key in st.data:
                    st.remove(key, rev)
                else:
                    st.rev = rev
            else:
                st.put(key, value, rev, crev)
        st.rev = max(st.rev, compacted)
        st.compact(compacted)
        st.compacted = compacted
        self._db_compacted = compacted

    async def close(self) -> None:
        if self.compactor is not None:
            await self.compactor.stop()
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None
        self.state.close_watchers()
        if self._log is not None:
            async with self._db_lock:
                await asyncio.to_thread(self._log.close)
            self._log = None

    # ---- reads: all from memory -----------------------------------------------------------
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

    def watch(self, prefix: str, after_revision: int) -> MemWatch:
        return MemWatch(self.state, prefix, after_revision)

    # ---- writes: queued for the group-commit writer ---------------------------------------
    async def create(self, key: str, value: bytes) -> int:
        rev: int = await self._submit(_CREATE, key, value, 0)
        return rev

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        rev: int = await self._submit(_UPDATE, key, value, expected_revision)
        return rev

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KeyValue]:
        out: tuple[int, KeyValue] = await self._submit(_DELETE, key, b"", expected_revision)
        return out

    async def _submit(self, op: int, key: str, value: bytes, expected: int) -> Any:
        if self._closing or self._writer is None:
            raise StoreError("sqlite backend is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(op, key, value, expected, fut))
        self._wake.set()
        return await fut

    async def _write_loop(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self._commit(batch)
            except BaseException as e:  # never leave a caller hanging
                for r in batch:
                    if not r.fut.done():
                        r.fut.set_exception(e if isinstance(e, StoreError) else StoreError(f"write failed: {e!r}"))
                if isinstance(e, asyncio.CancelledError):
                    raise

    async def _commit(self, batch: _Batch) -> None:
        st = self.state
        overlay: dict[str, KeyValue | None] = {}  # this batch's uncommitted view of each key
        rows: list[Row] = []
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        for r in batch:
            cur = overlay[r.key] if r.key in overlay else st.data.get(r.key)
            if r.op == _CREATE:
                if cur is not None:
                    outcomes.append((r, None, KeyExistsError(r.key)))
                    continue
            elif cur is None:
                outcomes.append((r, None, NotFoundError(r.key)))
                continue
            elif r.expected and cur.mod_revision != r.expected:
                outcomes.append((r, None, ConflictError(r.key, cur)))
                continue
            rev = st.rev + len(rows) + 1
            if r.op == _DELETE:
                assert cur is not None
                rows.append((rev, r.key, 0, 1, cur.create_revision, cur.mod_revision, cur.value))
                overlay[r.key] = None
                outcomes.append((r, (rev, cur), None))
            else:
                crev = cur.create_revision if cur else rev
                rows.append((rev, r.key, int(cur is None), 0, crev, cur.mod_revision if cur else 0, r.value))
                overlay[r.key] = KeyValue(r.key, r.value, crev, rev)
                outcomes.append((r, rev, None))
        if rows:
            assert self._log is not None
            async with self._db_lock:
                await asyncio.to_thread(self._log.append, rows)
            events: list[Event] = []
            for rev, key, _c, deleted, _cr, _p, value in rows:
                events.append(st.remove(key, rev) if deleted else st.put(key, value, rev))
            st.notify(events)
        for r, result, err in outcomes:
            if r.fut.done():
                continue
            if err is not None:
                r.fut.set_exception(err)
            else:
                r.fut.set_result(result)

    # ---- compaction -----------------------------------------------------------------------
    async def compact(self, revision: int) -> None:
        """Forget history at or below `revision` in memory, then clean the file in steps."""
        async with self._compact_lock:
            revision = min(revision, self.state.rev)
            if revision > self.state.compacted:
                self.state.compact(revision)
            lo = self._db_compacted
            if lo >= self.state.compacted or self._log is None:
                return
            log = self._log
            while lo < self.state.compacted:
                hi = min(lo + COMPACT_STEP, self.state.compacted)
                async with self._db_lock:
                    await asyncio.to_thread(log.compact_range, lo, hi)
                lo = self._db_compacted = hi
            async with self._db_lock:
                await asyncio.to_thread(log.checkpoint)

    async def integrity_check(self) -> str:
        """SQLite's own `PRAGMA integrity_check` verdict ("ok" when sound)."""
        assert self._log is not None
        async with self._db_lock:
            return await asyncio.to_thread(self._log.integrity_check)
