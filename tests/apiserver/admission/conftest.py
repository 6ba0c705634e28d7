"""An in-process API server that authenticates static bearer tokens (authorization: any
authenticated user), so admission plugins see who is asking."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from aiohttp.test_utils import TestServer

from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend

USERS = {
    "admin-token": UserInfo("admin", ("system:masters", "system:authenticated")),
    "node-a-token": UserInfo("system:node:a", ("system:nodes", "system:authenticated")),
}


@contextlib.asynccontextmanager
async def token_server() -> AsyncIterator[tuple[ApiServer, dict[str, httpx.AsyncClient]]]:
    """Yields the server and one httpx client per token user ("admin", "node-a")."""
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, authenticate=True, tokens=dict(USERS))
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    clients = {name.removesuffix("-token"): httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ts.port}", headers={"Authorization": f"Bearer {name}"}, timeout=20)
        for name in USERS}
    try:
        yield srv, clients
    finally:
        for c in clients.values():
            await c.aclose()
        await ts.close()
        await srv.stop()
        await backend.close()
