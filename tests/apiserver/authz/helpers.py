"""An in-process API server with authentication (static tokens) and Node,RBAC authorization on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tugboat.apiserver.context import Config
from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend

USERS = {
    "admin": UserInfo("admin", ("system:masters", "system:authenticated")),
    "alice": UserInfo("alice", ("system:authenticated",)),
    "bob": UserInfo("bob", ("system:authenticated",)),
    "n1": UserInfo("system:node:n1", ("system:nodes", "system:authenticated")),
}


class Api:
    def __init__(self, base: str, session: aiohttp.ClientSession):
        self.base, self.session = base, session

    async def call(self, who: str | None, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        h = dict(headers or {})
        if who:
            h["Authorization"] = f"Bearer {who}-token"
        async with self.session.request(method, self.base + path, json=body, headers=h) as r:
            data = await r.json(content_type=None) if r.content_length != 0 else None
            return r.status, data


@contextlib.asynccontextmanager
async def rbac_server(backend: MemoryBackend | None = None) -> AsyncIterator[tuple[ApiServer, Api]]:
    """A server on `backend` (a fresh memory store when None; a given one outlives the server)."""
    own = backend is None
    if backend is None:
        backend = MemoryBackend()
        await backend.start()
    tokens = {f"{k}-token": u for k, u in USERS.items()}
    srv = ApiServer(backend, config=Config(bookmark_interval=1.0), tokens=tokens, authorization_mode="Node,RBAC")
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    session = aiohttp.ClientSession()
    try:
        yield srv, Api(f"http://127.0.0.1:{ts.port}", session)
    finally:
        await session.close()
        await ts.close()
        await srv.stop()
        if own:
            await backend.close()
