"""SQLite-only guarantees: recovery by replay, group-commit semantics, durability under
SIGKILL, and compaction that actually shrinks the file."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tugboat.store.backend import CompactedError, ConflictError, KeyExistsError, KeyValue, StoreError
from tugboat.store.compactor import Compactor
from tugboat.store.sqlite import SqliteBackend
from tugboat.store.sqlite_log import Row

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "data" / "state.db")


async def opened(path: str) -> SqliteBackend:
    b = SqliteBackend(path, compact_interval=None)
    await b.start()
    return b


def rows(path: str) -> list[tuple[int, str, int]]:
    with sqlite3.connect(path) as c:
        return list(c.execute("SELECT id, key, deleted FROM log ORDER BY id"))


async def test_restart_replays_state_history_and_revision(db: str) -> None:
    b = await opened(db)
    r1 = await b.create("/a", b"1")
    r2 = await b.update("/a", b"2", r1)
    await b.create("/b", b"b")
    r4, _ = await b.delete("/b")
    before = await b.list("/")
    await b.close()

    b = await opened(db)
    try:
        assert await b.current_revision() == r4
        assert await b.list("/") == before
        assert await b.get("/a", r1) == KeyValue("/a", b"1", r1, r1)
        evs = [e async for batch in _take(b.watch("/", 0), 4) for e in batch]
        assert [(e.type, e.revision) for e in evs] == [("PUT", r1), ("PUT", r2), ("PUT", r2 + 1), ("DELETE", r4)]
        assert await b.create("/c", b"c") == r4 + 1  # the counter continues
    finally:
        await b.close()


async def _take(w, n: int):  # type: ignore[no-untyped-def]
    got = 0
    async with asyncio.timeout(5):
        async for batch in w:
            yield batch
            got += len(batch)
            if got >= n:
                break
    await w.close()


async def test_writes_in_one_batch_behave_as_if_sequential(db: str) -> None:
    b = await opened(db)
    assert b._log is not None
    calls: list[int] = []
    real = b._log.append

    def counting(rows: list[Row]) -> None:
        calls.append(len(rows))
        real(rows)

    b._log.append = counting  # type: ignore[method-assign]
    try:
        base = await b.current_revision()
        res = await asyncio.gather(
            b.create("/k", b"1"),
            b.update("/k", b"2", base + 1),
            b.create("/k", b"again"),
            b.update("/k", b"stale", base + 1),
            b.delete("/k", base + 2),
            b.create("/k", b"reborn"),
            return_exceptions=True,
        )
        assert calls == [4], "one transaction for the four successful writes"
        assert res[0] == base + 1 and res[1] == base + 2
        assert isinstance(res[2], KeyExistsError)
        assert isinstance(res[3], ConflictError) and res[3].current == KeyValue("/k", b"2", base + 1, base + 2)
        assert res[4] == (base + 3, KeyValue("/k", b"2", base + 1, base + 2))
        assert res[5] == base + 4
        assert await b.get("/k") == KeyValue("/k", b"reborn", base + 4, base + 4)
    finally:
        await b.close()


async def test_readers_never_see_an_unacknowledged_write(db: str) -> None:
    b = await opened(db)
    assert b._log is not None
    gate, entered = threading.Event(), threading.Event()
    real = b._log.append

    def slow_append(rows):  # type: ignore[no-untyped-def]
        entered.set()
        gate.wait(5)
        real(rows)

    b._log.append = slow_append  # type: ignore[method-assign]
    w = b.watch("/", 0)
    try:
        task = asyncio.create_task(b.create("/x", b"1"))
        await asyncio.to_thread(entered.wait, 5)
        assert await b.get("/x") is None
        assert await b.current_revision() == 0
        assert (await b.list("/")).items == []
        assert not task.done()
        gate.set()
        rev = await task
        assert (await b.get("/x")) == KeyValue("/x", b"1", rev, rev)
        async with asyncio.timeout(5):
            batch = await w.__aiter__().__anext__()
        assert [e.revision for e in batch] == [rev]
    finally:
        gate.set()
        await w.close()
        await b.close()


async def test_failed_commit_fails_the_callers_and_changes_nothing(db: str) -> None:
    b = await opened(db)
    assert b._log is not None
    real = b._log.append

    def broken(rows):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("disk I/O error")

    b._log.append = broken  # type: ignore[method-assign]
    try:
        with pytest.raises(StoreError):
            await b.create("/x", b"1")
        assert await b.get("/x") is None and await b.current_revision() == 0
        b._log.append = real  # type: ignore[method-assign]
        assert await b.create("/x", b"1") == 1
    finally:
        await b.close()


CHILD = """
import asyncio, sys
from tugboat.store.sqlite import SqliteBackend
from tugboat.store.sqlite_log import Row

async def main():
    b = SqliteBackend(sys.argv[1], compact_interval=None)
    await b.start()
    async def writer(i):
        n = 0
        while True:
            key = f"/k/{i}/{n}"
            await b.create(key, b"v" * 200)
            rev = await b.update(key, b"w" * 200, 0)
            print(key, rev, flush=True)
            n += 1
    await asyncio.gather(*(writer(i) for i in range(20)))

asyncio.run(main())
"""


def test_no_acknowledged_write_is_lost_on_sigkill(db: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db], stdout=subprocess.PIPE, env=env, cwd=REPO, text=True
    )
    acked: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, rev = line.split()
            acked[key] = int(rev)
            if len(acked) >= 600:
                break
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: other writes are in flight
        for line in proc.stdout:  # printed before the kill: acknowledged too
            if line.endswith("\n"):
                key, rev = line.split()
                acked[key] = int(rev)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    async def check() -> None:
        b = await opened(db)
        try:
            assert await b.integrity_check() == "ok"
            for key, rev in acked.items():
                kv = await b.get(key)
                assert kv is not None and kv.value == b"w" * 200 and kv.mod_revision == rev, key
        finally:
            await b.close()

    asyncio.run(check())


async def test_compaction_policy_with_injected_time(db: str) -> None:
    now = [0.0]
    b = await opened(db)
    comp = Compactor(b, clock=lambda: now[0], min_age=300, min_revisions=1000)
    try:
        await b.create("/gone", b"x")
        for i in range(60):
            await asyncio.gather(*(b.create(f"/k/{i}/{j}", b"v") for j in range(20)))
        await b.delete("/gone")
        keep = await b.current_revision()  # 1202
        assert await comp.tick() == 0  # nothing is 5 minutes old yet
        now[0] = 200
        for i in range(60):
            await asyncio.gather(*(b.update(f"/k/{i}/{j}", b"w", 0) for j in range(20)))
        assert await comp.tick() == 0
        now[0] = 301  # the sample taken at t=0 is now old enough
        assert await comp.tick() == keep
        assert await b.compacted_revision() == keep

        # rows at or below `keep` survive only as each live key's value as of `keep`
        r = rows(db)
        assert {x[1] for x in r if x[0] <= keep} == {f"/k/{i}/{j}" for i in range(60) for j in range(20)}
        assert len([x for x in r if x[0] <= keep]) == 1200  # /gone's create and tombstone dropped
        assert len([x for x in r if x[0] > keep]) == 1200
        assert os.path.getsize(db + "-wal") == 0  # checkpointed and truncated

        # later, 1000 revisions behind the head is the tighter bound: 200 superseded creates go
        now[0] = 700
        cur = await b.current_revision()
        assert await comp.tick() == cur - 1000
        assert len(rows(db)) == 2400 - 200

        with pytest.raises(CompactedError):
            await b.get("/k/0/0", keep)
        await b.close()

        b = await opened(db)  # the compacted revision survives a restart
        assert await b.compacted_revision() == cur - 1000
        assert await b.count("/k/") == 1200 and await b.get("/gone") is None
        assert (await b.get("/k/59/19", cur - 1000)) == KeyValue("/k/59/19", b"v", keep - 1, keep - 1)
        assert (await b.get("/k/0/0", cur - 1000)) == KeyValue("/k/0/0", b"w", 2, keep + 1)
        with pytest.raises(CompactedError):
            await b.list("/k/", revision=keep)
    finally:
        await b.close()


async def test_compaction_keeps_live_values_of_untouched_keys(db: str) -> None:
    b = await opened(db)
    try:
        r1 = await b.create("/still", b"here")
        r2 = await b.create("/twice", b"1")
        r3 = await b.update("/twice", b"2", r2)
        await b.compact(r3)
        assert [x[0] for x in rows(db)] == [r1, r3]
        await b.close()
        b = await opened(db)
        assert await b.get("/still") == KeyValue("/still", b"here", r1, r1)
        assert await b.get("/twice") == KeyValue("/twice", b"2", r2, r3)
    finally:
        await b.close()
