"""In-process API server fixtures: memory backend, plain HTTP, authentication off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestServer

from tugboat.apiserver.context import Config
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=Config(bookmark_interval=0.3), authenticate=False)
    await srv.start(compact=False)
    yield srv
    await srv.stop()
    await backend.close()


@pytest.fixture
async def client(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    ts = TestServer(server.app(), host="127.0.0.1")
    await ts.start_server()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ts.port}", timeout=10) as c:
        yield c
    await ts.close()


def cm(name: str, ns: str = "default", **data: str) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def deploy(name: str, replicas: int = 1) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
