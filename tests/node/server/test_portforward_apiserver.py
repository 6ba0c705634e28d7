"""pods/portforward through the in-process API server to a simulated agent's HTTPS server (real
TLS, client certificates): the API server relays each transport's upgrade and tunnels bytes."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.node.helpers import get_pod, make_pod, until
from tests.node.server.cluster import Cluster, streaming_cluster
from tests.node.server.test_portforward_agent import SpdyClient, _echo
from tugboat.node.sources import POD

NODE = "n1"


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[Cluster, int]]:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = echo.sockets[0].getsockname()[1]
    try:
        async with streaming_cluster(NODE) as c:
            pod = make_pod("web", NODE, annotations={"sim.tugboat.dev/portforward-to": f"127.0.0.1:{port}"})
            await c.client.create(POD, pod, "default")

            async def running() -> bool:
                p = await get_pod(c.client, "web")
                return bool(p and (p.get("status") or {}).get("phase") == "Running")
            await until(running, what="pod running")
            yield c, port
    finally:
        echo.close()
        await echo.wait_closed()


def _url(c: Cluster, query: str = "") -> str:
    return f"{c.base_url}/api/v1/namespaces/default/pods/web/portforward{query}"


async def test_spdy_over_websocket_through_the_api_server(cluster: tuple[Cluster, int]) -> None:
    c, _ = cluster
    async with aiohttp.ClientSession() as http, http.ws_connect(
            _url(c), protocols=("SPDY/3.1+portforward.k8s.io",)) as ws:
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"

        async def read() -> bytes:
            msg = await ws.receive()
            return bytes(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else b""
        sc = SpdyClient(read, ws.send_bytes)
        _, data = await sc.request(80, "0")
        sc.s.send_data(data, b"tunnelled")
        await sc.flush()
        await sc.pump_until(lambda: bytes(sc.data.get(data, b"")) == b"tunnelled")


async def test_direct_spdy_upgrade_through_the_api_server(cluster: tuple[Cluster, int]) -> None:
    c, _ = cluster
    host, port = c.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"POST /api/v1/namespaces/default/pods/web/portforward HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n"
                     b"Content-Length: 0\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head

        async def write(b: bytes) -> None:
            writer.write(b)
            await writer.drain()
        sc = SpdyClient(lambda: reader.read(65536), write)
        err, data = await sc.request(80, "7")
        payload = b"z" * 300_000
        sc.s.send_data(data, payload, fin=True)
        await sc.flush()
        await sc.pump_until(lambda: data in sc.fin and err in sc.fin, timeout=10)
        assert bytes(sc.data[data]) == payload
    finally:
        writer.close()


async def test_channel_protocol_through_the_api_server(cluster: tuple[Cluster, int]) -> None:
    c, _ = cluster
    async with aiohttp.ClientSession() as http, http.ws_connect(
            _url(c, "?ports=8080"), protocols=("v5.channel.k8s.io", "v4.channel.k8s.io")) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        assert [bytes((await ws.receive()).data) for _ in range(2)] == [b"\x00" + struct.pack("<H", 8080),
                                                                        b"\x01" + struct.pack("<H", 8080)]
        await ws.send_bytes(b"\x00abc")
        assert bytes((await asyncio.wait_for(ws.receive(), 5)).data) == b"\x00abc"


async def test_agent_refusal_is_returned_without_upgrading(cluster: tuple[Cluster, int]) -> None:
    c, _ = cluster
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
            await http.ws_connect(_url(c, "?ports=notaport"), protocols=("v4.channel.k8s.io",))
        assert ei.value.status == 400
        async with http.get(_url(c)) as r:  # no upgrade at all
            assert r.status == 400
            assert "Upgrade request required" in (await r.json())["message"]
        async with http.get(f"{c.base_url}/api/v1/namespaces/default/pods/nope/portforward",
                            headers={"Upgrade": "websocket", "Connection": "Upgrade"}) as r:
            assert r.status == 404
