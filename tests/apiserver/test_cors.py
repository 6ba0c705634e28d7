"""CORS for browser clients on other origins (--cors-allowed-origins), as upstream's filter."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from tugboat.apiserver.context import Config
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend


async def _client(origins: tuple[str, ...]) -> tuple[TestClient, ApiServer]:
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=Config(cors_allowed_origins=origins), authenticate=False)
    await srv.start()
    client = TestClient(TestServer(srv.app()))
    await client.start_server()
    return client, srv


async def test_allowed_origin_gets_cors_headers_and_preflight():
    client, srv = await _client((r"^https://dash\.example(:\d+)?$",))
    try:
        pre = await client.options("/api/v1/namespaces/default/pods", headers={
            "Origin": "https://dash.example:8443", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        assert pre.status == 204
        assert pre.headers["Access-Control-Allow-Origin"] == "https://dash.example:8443"
        assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
        r = await client.get("/api/v1/namespaces", headers={"Origin": "https://dash.example:8443"})
        assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "https://dash.example:8443"
        w = await client.get("/api/v1/namespaces?watch=1&timeoutSeconds=1", headers={"Origin": "https://dash.example"})
        assert w.headers["Access-Control-Allow-Origin"] == "https://dash.example"
        await w.read()
        other = await client.get("/api/v1/namespaces", headers={"Origin": "https://evil.example"})
        assert other.status == 200 and "Access-Control-Allow-Origin" not in other.headers
    finally:
        await client.close()
        await srv.stop()


async def test_off_by_default():
    client, srv = await _client(())
    try:
        r = await client.get("/api/v1/namespaces", headers={"Origin": "https://dash.example"})
        assert "Access-Control-Allow-Origin" not in r.headers
    finally:
        await client.close()
        await srv.stop()
