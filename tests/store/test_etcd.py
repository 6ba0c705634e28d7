"""etcd-only behaviour: endpoint failover, watch resumption across a restart, key prefixes."""

from __future__ import annotations

import asyncio

import pytest

from tugboat.store.backend import Event
from tugboat.store.etcd import EtcdBackend

from .conftest import EtcdServer, free_port, needs_etcd

pytestmark = [pytest.mark.etcd, needs_etcd]


async def test_fails_over_to_the_next_endpoint(etcd_server: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    b = EtcdBackend([dead, etcd_server.endpoint], prefix="/failover", compact_interval=None)
    await b.start()
    try:
        rev = await b.create("/k", b"v")
        kv = await b.get("/k")
        assert kv is not None and kv.mod_revision == rev
        evs = [e async for batch in _first(b.watch("/", rev - 1)) for e in batch]
        assert [e.revision for e in evs] == [rev]
    finally:
        await b.close()


async def _first(w):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(10):
        async for batch in w:
            yield batch
            break
    await w.close()


async def test_prefixes_isolate_clusters(etcd_server: EtcdServer) -> None:
    a = EtcdBackend([etcd_server.endpoint], prefix="/one", compact_interval=None)
    b = EtcdBackend([etcd_server.endpoint], prefix="/two", compact_interval=None)
    await a.start()
    await b.start()
    try:
        await a.create("/pods/x", b"a")
        await b.create("/pods/x", b"b")
        assert [kv.value for kv in (await a.list("/")).items] == [b"a"]
        assert [kv.key for kv in (await b.list("/pods/")).items] == ["/pods/x"]
        assert await a.count("/") == 1
    finally:
        await a.close()
        await b.close()


async def test_watch_resumes_across_an_etcd_restart() -> None:
    srv = EtcdServer()
    srv.start()
    b = EtcdBackend([srv.endpoint], compact_interval=None)
    await b.start()
    try:
        start = await b.current_revision()
        w = b.watch("/r/", start)
        got: list[Event] = []

        async def read() -> None:
            async for batch in w:
                got.extend(batch)

        reader = asyncio.create_task(read())
        revs = [await b.create(f"/r/{i}", b"x") for i in range(3)]
        async with asyncio.timeout(10):
            while len(got) < 3:
                await asyncio.sleep(0.02)
        srv.stop()
        srv.start()  # same data dir and ports
        revs += [await b.create(f"/r/{i}", b"x") for i in range(3, 6)]
        async with asyncio.timeout(15):
            while len(got) < 6:
                await asyncio.sleep(0.05)
        await w.close()
        await asyncio.wait_for(reader, 5)
        assert [e.revision for e in got] == revs
    finally:
        await b.close()
        srv.cleanup()
