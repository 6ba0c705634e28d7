"""The storage contract (tugboat/store/backend.py), checked identically on every backend.

What the API server relies on: CAS writes that report the current value on conflict,
monotonic revisions, consistent snapshot LISTs for pagination, watches that resume from a
resourceVersion without gaps or duplicates, and 410-style errors for compacted history.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tugboat.store.backend import (
    Backend,
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
)


async def collect(b: Backend, prefix: str, after: int, until: int, timeout: float = 10) -> list[Event]:
    """Watch from `after` until an event with revision >= `until` arrives."""
    out: list[Event] = []
    w = b.watch(prefix, after)
    try:
        async with asyncio.timeout(timeout):
            async for batch in w:
                out.extend(batch)
                if out and out[-1].revision >= until:
                    break
    finally:
        await w.close()
    return out


async def test_create_get(backend: Backend) -> None:
    rev = await backend.create("/pods/a", b"one")
    assert await backend.get("/pods/a") == KeyValue("/pods/a", b"one", rev, rev)
    assert await backend.get("/pods/missing") is None
    assert await backend.current_revision() >= rev


async def test_binary_values_and_unicode_keys(backend: Backend) -> None:
    rev = await backend.create("/cm/ns/ünï", b"\x00\xff\n{}")
    kv = await backend.get("/cm/ns/ünï")
    assert kv is not None and kv.value == b"\x00\xff\n{}" and kv.mod_revision == rev


async def test_create_existing_key_fails_without_taking_a_revision(backend: Backend) -> None:
    await backend.create("/k", b"1")
    before = await backend.current_revision()
    with pytest.raises(KeyExistsError):
        await backend.create("/k", b"2")
    assert await backend.current_revision() == before
    kv = await backend.get("/k")
    assert kv is not None and kv.value == b"1"


async def test_update_is_compare_and_swap(backend: Backend) -> None:
    r1 = await backend.create("/k", b"v1")
    r2 = await backend.update("/k", b"v2", r1)
    assert r2 > r1
    assert await backend.get("/k") == KeyValue("/k", b"v2", r1, r2)
    with pytest.raises(ConflictError) as ei:
        await backend.update("/k", b"stale", r1)
    assert ei.value.current == KeyValue("/k", b"v2", r1, r2)
    with pytest.raises(NotFoundError):
        await backend.update("/nope", b"x", r1)
    r3 = await backend.update("/k", b"v3", 0)  # 0 = unconditional
    assert r3 > r2


async def test_delete(backend: Backend) -> None:
    r1 = await backend.create("/k", b"v1")
    r2 = await backend.update("/k", b"v2", r1)
    with pytest.raises(ConflictError) as ei:
        await backend.delete("/k", r1)
    assert ei.value.current is not None and ei.value.current.value == b"v2"
    rd, old = await backend.delete("/k", r2)
    assert rd > r2 and old == KeyValue("/k", b"v2", r1, r2)
    assert await backend.get("/k") is None
    with pytest.raises(NotFoundError):
        await backend.delete("/k")
    r4 = await backend.create("/k", b"again")
    assert await backend.get("/k") == KeyValue("/k", b"again", r4, r4)  # a new life: new create_revision
    rd2, old2 = await backend.delete("/k")  # unconditional
    assert rd2 > r4 and old2.value == b"again"


async def test_each_write_takes_one_new_revision(backend: Backend) -> None:
    revs = [await backend.create(f"/r/{i}", b"x") for i in range(5)]
    revs.append(await backend.update("/r/0", b"y", revs[0]))
    revs.append((await backend.delete("/r/1"))[0])
    assert all(b > a for a, b in zip(revs, revs[1:], strict=False))
    assert await backend.current_revision() == revs[-1]


async def test_list_prefix_sorted_and_count(backend: Backend) -> None:
    for k in ["/a/c", "/a/a", "/b/a", "/a/b", "/ab/x"]:
        await backend.create(k, k.encode())
    res = await backend.list("/a/")
    assert [kv.key for kv in res.items] == ["/a/a", "/a/b", "/a/c"]
    assert not res.more and res.remaining == 0
    assert res.revision == await backend.current_revision()
    assert [kv.value for kv in res.items] == [b"/a/a", b"/a/b", b"/a/c"]
    assert await backend.count("/a/") == 3
    assert await backend.count("/a") == 4
    assert (await backend.list("/zzz/")).items == []


async def test_list_pagination_is_one_snapshot(backend: Backend) -> None:
    keys = [f"/p/{i:03d}" for i in range(25)]
    for k in keys:
        await backend.create(k, b"0")
    first = await backend.list("/p/", limit=10)
    assert first.more and first.remaining == 15 and len(first.items) == 10
    # writes between pages must not show up in later pages read at the first page's revision
    await backend.create("/p/0105", b"new")
    await backend.delete("/p/020")
    seen = [kv.key for kv in first.items]
    page = first
    while page.more:
        page = await backend.list("/p/", start_after=seen[-1], limit=10, revision=first.revision)
        assert page.revision == first.revision
        seen += [kv.key for kv in page.items]
    assert seen == keys
    assert page.remaining == 0


async def test_list_at_older_revision_while_writers_run(backend: Backend) -> None:
    for i in range(20):
        await backend.create(f"/s/{i:02d}", b"orig")
    snap = await backend.list("/s/")
    stop = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            k = f"/s/{i % 25:02d}"
            cur = await backend.get(k)
            if cur is None:
                await backend.create(k, b"late")
            elif i % 3 == 0:
                await backend.delete(k)
            else:
                await backend.update(k, b"changed %d" % i, 0)
            i += 1

    task = asyncio.create_task(writer())
    try:
        await asyncio.sleep(0.05)
        got: list[KeyValue] = []
        page = await backend.list("/s/", limit=3, revision=snap.revision)
        got += page.items
        while page.more:
            await asyncio.sleep(0.005)
            page = await backend.list("/s/", start_after=got[-1].key, limit=3, revision=snap.revision)
            got += page.items
        assert got == snap.items
        old = await backend.get("/s/05", revision=snap.revision)
        assert old is not None and old.value == b"orig"
    finally:
        stop.set()
        await task
    assert (await backend.list("/s/")).revision > snap.revision


async def test_get_at_revision(backend: Backend) -> None:
    r1 = await backend.create("/v", b"1")
    r2 = await backend.update("/v", b"2", r1)
    r3, _ = await backend.delete("/v")
    assert (await backend.get("/v", r1)) == KeyValue("/v", b"1", r1, r1)
    assert (await backend.get("/v", r2)) == KeyValue("/v", b"2", r1, r2)
    assert await backend.get("/v", r3) is None
    assert await backend.get("/v", r1 - 1) is None if r1 > 1 else True


async def test_future_revision(backend: Backend) -> None:
    await backend.create("/f", b"1")
    cur = await backend.current_revision()
    with pytest.raises(FutureRevisionError):
        await backend.get("/f", cur + 100)
    with pytest.raises(FutureRevisionError):
        await backend.list("/f", revision=cur + 100)


async def test_watch_order_types_and_resume(backend: Backend) -> None:
    start = await backend.current_revision()
    r1 = await backend.create("/w/a", b"1")
    r2 = await backend.update("/w/a", b"2", r1)
    await backend.create("/other/x", b"not mine")
    r3, _ = await backend.delete("/w/a")
    evs = await collect(backend, "/w/", start, r3)
    assert [(e.type, e.revision, e.kv.value) for e in evs] == [("PUT", r1, b"1"), ("PUT", r2, b"2"), ("DELETE", r3, b"2")]
    assert evs[0].is_create and evs[0].prev is None
    assert evs[1].prev == KeyValue("/w/a", b"1", r1, r1) and not evs[1].is_create
    assert evs[2].prev == KeyValue("/w/a", b"2", r1, r2)
    # resume from a revision: exactly the later events
    again = await collect(backend, "/w/", r1, r3)
    assert [e.revision for e in again] == [r2, r3]


async def test_live_watch_sees_later_writes(backend: Backend) -> None:
    start = await backend.current_revision()
    w = backend.watch("/live/", start)
    got: list[Event] = []

    async def read() -> None:
        async for batch in w:
            got.extend(batch)
            if len(got) >= 2:
                return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)
    r1 = await backend.create("/live/a", b"1")
    r2 = await backend.create("/live/b", b"2")
    async with asyncio.timeout(10):
        await reader
    assert [e.revision for e in got] == [r1, r2]
    await w.close()


async def test_closed_watch_ends_iteration(backend: Backend) -> None:
    w = backend.watch("/c/", await backend.current_revision())

    async def drain() -> int:
        n = 0
        async for _ in w:
            n += 1
        return n

    task = asyncio.create_task(drain())
    await asyncio.sleep(0.1)
    await w.close()
    async with asyncio.timeout(5):
        assert await task == 0


async def test_watch_under_concurrent_writers_replays_to_final_state(backend: Backend) -> None:
    """etcd robustness-style check: no missed or duplicated events, strictly increasing
    revisions, each event's prev matches the replay, and the replay equals a final LIST."""
    start = await backend.current_revision()
    w = backend.watch("/cw/", start)
    events: list[Event] = []
    done = asyncio.Event()

    async def read() -> None:
        async for batch in w:
            events.extend(batch)
            if done.is_set() and events and events[-1].revision >= final_rev:
                return

    async def writer(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(40):
            k = f"/cw/{rnd.randrange(8)}"
            cur = await backend.get(k)
            try:
                if cur is None:
                    await backend.create(k, b"c%d" % seed)
                elif rnd.random() < 0.3:
                    await backend.delete(k, cur.mod_revision)
                else:
                    await backend.update(k, b"u%d" % rnd.randrange(1000), cur.mod_revision)
            except (ConflictError, KeyExistsError, NotFoundError):
                pass

    final_rev = 0
    reader = asyncio.create_task(read())
    await asyncio.gather(*(writer(s) for s in range(6)))
    final = await backend.list("/cw/")
    final_rev = final.revision
    done.set()
    if final_rev > start:
        await backend.create("/cw-end", b"")  # wakes nothing under /cw/; reader stops on its own
        async with asyncio.timeout(15):
            while not (events and events[-1].revision >= final_rev):
                await asyncio.sleep(0.02)
    reader.cancel()
    await w.close()

    revs = [e.revision for e in events]
    assert revs == sorted(set(revs)), "revisions must strictly increase (no duplicates)"
    state: dict[str, KeyValue] = {}
    for e in events:
        assert e.prev == state.get(e.kv.key), f"prev of {e} does not match the replay"
        if e.type == "PUT":
            state[e.kv.key] = e.kv
        else:
            del state[e.kv.key]
    assert sorted(state.values(), key=lambda kv: kv.key) == final.items


async def test_counter_read_modify_write_loses_no_update(backend: Backend) -> None:
    await backend.create("/counter", b"0")
    conflicts = 0

    async def inc(n: int) -> None:
        nonlocal conflicts
        for _ in range(n):
            while True:
                cur = await backend.get("/counter")
                assert cur is not None
                try:
                    await backend.update("/counter", b"%d" % (int(cur.value) + 1), cur.mod_revision)
                    break
                except ConflictError as e:
                    conflicts += 1
                    assert e.current is not None and e.current.mod_revision != cur.mod_revision

    await asyncio.gather(*(inc(10) for _ in range(10)))
    kv = await backend.get("/counter")
    assert kv is not None and int(kv.value) == 100


async def test_compacted_history_raises_compacted(backend: Backend) -> None:
    r1 = await backend.create("/h/k", b"1")
    r2 = await backend.update("/h/k", b"2", r1)
    r3 = await backend.update("/h/k", b"3", r2)
    r4 = await backend.create("/h/j", b"j")
    await backend.compact(r3)
    assert await backend.compacted_revision() >= r3
    with pytest.raises(CompactedError):
        await backend.get("/h/k", r1)
    with pytest.raises(CompactedError):
        await backend.list("/h/", revision=r1)
    with pytest.raises(CompactedError):
        async with asyncio.timeout(10):
            async for _ in backend.watch("/h/", r1 - 1):
                pass
    # the compacted revision itself and everything live stay readable
    assert [kv.value for kv in (await backend.list("/h/", revision=r3)).items] == [b"3"]
    assert (await backend.get("/h/k")) == KeyValue("/h/k", b"3", r1, r3)
    evs = await collect(backend, "/h/", r3, r4)
    assert [e.revision for e in evs] == [r4]
