"""An in-process API server (memory store, plain HTTP on 127.0.0.1, authentication off) and a
`tugboat.client.Client` pointed at it: the fixture controllers, the scheduler and the node
agent test against. The real server, not a fake: same registry, strategies and watch cache.

    async with running_apiserver() as (server, client):
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp.test_utils import TestServer

from tugboat.apiserver.context import Config as ServerConfig
from tugboat.apiserver.server import ApiServer
from tugboat.client import Client, Config
from tugboat.store.memory import MemoryBackend


@contextlib.asynccontextmanager
async def running_apiserver(**client_kw: object) -> AsyncIterator[tuple[ApiServer, Client]]:
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=ServerConfig(bookmark_interval=1.0), authenticate=False)
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    client = Client(Config(server=f"http://127.0.0.1:{ts.port}"), **client_kw)  # type: ignore[arg-type]
    try:
        yield srv, client
    finally:
        await client.close()
        await ts.close()
        await srv.stop()
        await backend.close()
