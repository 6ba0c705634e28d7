"""open_backend: the store URL the server's --store flag takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tugboat.store import open_backend
from tugboat.store.etcd import EtcdBackend
from tugboat.store.memory import MemoryBackend
from tugboat.store.sqlite import SqliteBackend


def test_sqlite_urls_and_plain_paths(tmp_path: Path) -> None:
    b = open_backend(f"sqlite://{tmp_path}/state.db")
    assert isinstance(b, SqliteBackend) and b.path == f"{tmp_path}/state.db"
    b = open_backend(str(tmp_path / "x.db"))
    assert isinstance(b, SqliteBackend) and b.path == str(tmp_path / "x.db")


def test_etcd_urls() -> None:
    b = open_backend("etcd://127.0.0.1:2379,127.0.0.1:22379/registry")
    assert isinstance(b, EtcdBackend)
    assert b.gateway.endpoints == ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]
    assert b.prefix == "/registry"
    b = open_backend("etcd://localhost:2379")
    assert isinstance(b, EtcdBackend) and b.prefix == ""


def test_memory_and_unknown() -> None:
    assert isinstance(open_backend("memory://"), MemoryBackend)
    with pytest.raises(ValueError):
        open_backend("postgres://db/x")
    with pytest.raises(ValueError):
        open_backend("etcd://")


async def test_sqlite_url_round_trip(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/sub/state.db"
    b = open_backend(url)
    await b.start()
    rev = await b.create("/k", b"v")
    await b.close()
    b = open_backend(url)
    await b.start()
    try:
        kv = await b.get("/k")
        assert kv is not None and kv.mod_revision == rev
    finally:
        await b.close()
