"""The API server side of the dashboard, in process with authentication ON: the page loads
anonymously while the API stays closed; a browser's token in the WebSocket subprotocol
authenticates a watch over WebSocket (one event per message) but never reaches a node."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from tugboat.api.errors import ApiError
from tugboat.apiserver.auth import StaticTokenAuthenticator
from tugboat.apiserver.auth_ws import PROTOCOL_PREFIX, WebSocketProtocolAuthenticator, protocol_token
from tugboat.apiserver.context import Config as ServerConfig
from tugboat.apiserver.proxy_ws import offered_protocols
from tugboat.apiserver.request import Req, UserInfo
from tugboat.apiserver.requestinfo import parse
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend

TOKEN = "s3cret-token"
ALICE = UserInfo("alice", ("system:masters", "system:authenticated"))


def proto(token: str) -> str:
    return PROTOCOL_PREFIX + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[str]:
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=ServerConfig(bookmark_interval=1.0), tokens={TOKEN: ALICE})
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    try:
        yield f"http://127.0.0.1:{ts.port}"
    finally:
        await ts.close()
        await srv.stop()
        await backend.close()


async def test_page_is_public_api_is_not() -> None:
    async with server() as url, aiohttp.ClientSession() as s:
        async with s.get(f"{url}/dashboard/") as r:
            assert r.status == 200 and "Content-Security-Policy" in r.headers
        async with s.get(f"{url}/api/v1/namespaces") as r:
            assert r.status == 401
        async with s.get(f"{url}/api/v1/namespaces", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200


async def test_watch_over_websocket_with_token_subprotocol() -> None:
    async with server() as url, aiohttp.ClientSession() as s:
        hdr = {"Authorization": f"Bearer {TOKEN}"}
        async with s.get(f"{url}/api/v1/namespaces/default/configmaps", headers=hdr) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        ws = await s.ws_connect(f"{url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}",
                                protocols=[proto(TOKEN)])
        try:
            assert ws.protocol == proto(TOKEN)  # a browser fails the handshake unless one offered is chosen
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"k": "v"}}
            async with s.post(f"{url}/api/v1/namespaces/default/configmaps", json=cm, headers=hdr) as r:
                assert r.status == 201
            msg = await ws.receive(timeout=30)
            ev = orjson.loads(msg.data)
            assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "c1"
        finally:
            await ws.close()


async def test_websocket_with_a_wrong_token_is_refused() -> None:
    async with server() as url, aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await s.ws_connect(f"{url}/api/v1/namespaces/default/configmaps?watch=1", protocols=[proto("nope")])
        assert e.value.status == 401


async def test_protocol_token_decoding() -> None:
    up = {"Upgrade": "websocket"}
    assert protocol_token({**up, "Sec-WebSocket-Protocol": f"v5.channel.k8s.io, {proto('tök')}"}) == "tök"
    assert protocol_token({"Sec-WebSocket-Protocol": proto("x")}) is None  # not an upgrade
    assert protocol_token({**up, "Sec-WebSocket-Protocol": "v4.channel.k8s.io"}) is None
    for bad in (PROTOCOL_PREFIX, PROTOCOL_PREFIX + "!!!", proto("a b")):
        with pytest.raises(ApiError) as e:
            protocol_token({**up, "Sec-WebSocket-Protocol": bad})
        assert e.value.code == 401
    chain: list = [StaticTokenAuthenticator({TOKEN: ALICE})]
    ws_auth = WebSocketProtocolAuthenticator(lambda: chain)
    chain.append(ws_auth)
    assert await ws_auth({**up, "Sec-WebSocket-Protocol": proto(TOKEN)}, None) == ALICE
    assert await ws_auth({**up, "Sec-WebSocket-Protocol": proto("other")}, None) is None


def test_the_token_subprotocol_is_never_forwarded_to_the_node() -> None:
    headers = {"Sec-WebSocket-Protocol": f"v5.channel.k8s.io, v4.channel.k8s.io, {proto(TOKEN)}"}
    req = Req("GET", parse("GET", "/api/v1/namespaces/d/pods/p/exec", {}), {}, headers)
    assert offered_protocols(req) == ["v5.channel.k8s.io", "v4.channel.k8s.io"]
