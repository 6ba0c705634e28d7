"""An in-process API server with authentication ON, a static admin token and service-account
tokens installed (a fresh RSA key), on a FakeClock so expiry is testable without sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from tugboat.apiserver.context import Config
from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.satoken import SigningKey, TokenIssuer, install
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend
from tugboat.util.clock import FakeClock

ADMIN_TOKEN = "admin-token-for-tests"
_KEY = SigningKey.generate()  # RSA generation is the slow part; one per test session


@dataclass
class Sat:
    server: ApiServer
    issuer: TokenIssuer
    clock: FakeClock
    admin: httpx.AsyncClient
    url: str

    def as_token(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        r = await self.admin.post(path, json=obj)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def token(self, ns: str, sa: str, spec: dict[str, Any] | None = None) -> str:
        r = await self.admin.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                                  json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                        "spec": spec or {}})
        assert r.status_code == 201, r.text
        return r.json()["status"]["token"]  # type: ignore[no-any-return]


@pytest.fixture
async def sat() -> AsyncIterator[Sat]:
    backend = MemoryBackend()
    await backend.start()
    clock = FakeClock(start=1_800_000_000.0)
    admin_user = UserInfo("admin", ("system:masters", "system:authenticated"))
    srv = ApiServer(backend, config=Config(bookmark_interval=1.0), clock=clock, tokens={ADMIN_TOKEN: admin_user})
    iss = install(srv, key=_KEY)
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    url = f"http://127.0.0.1:{ts.port}"
    admin = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        yield Sat(srv, iss, clock, admin, url)
    finally:
        await admin.aclose()
        await ts.close()
        await srv.stop()
        await backend.close()
