"""The agent's /portForward endpoint over its three transports, against a local TCP echo server.

A simulated pod's `sim.tugboat.dev/portforward-to` annotation points at the echo server; the
client side is played with the project's own SPDY session (client mode), aiohttp's WebSocket
client, or raw HTTP — so these tests check the server against the wire format, not itself.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tugboat.net import spdy_session as S
from tugboat.node.server import portforward
from tugboat.node.server.util import AGENT


@dataclass
class _Rec:
    pod: dict[str, Any]
    gone: bool = False


class _Agent:
    simulated = True
    node_name = "n1"

    def __init__(self, pods: list[dict[str, Any]]):
        self.records = {p["metadata"]["uid"]: _Rec(p) for p in pods}


def _pod(name: str, annotation: str | None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if annotation is not None:
        md["annotations"] = {"sim.tugboat.dev/portforward-to": annotation}
    return {"metadata": md, "spec": {}, "status": {"phase": "Running"}}


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@pytest.fixture
async def env() -> AsyncIterator[tuple[str, int]]:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    echo_port = echo.sockets[0].getsockname()[1]
    pods = [_pod("echo", f"127.0.0.1:{echo_port}"), _pod("plain", None),
            _pod("closed", "127.0.0.1:1")]
    app = web.Application()
    app[AGENT] = _Agent(pods)
    portforward.register(app)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", echo_port
    finally:
        await runner.cleanup()
        echo.close()
        await echo.wait_closed()


class SpdyClient:
    """kubectl's side: open an error+data stream pair per request, like client-go does."""

    def __init__(self, read: Any, write: Any):
        self.read, self.write = read, write
        self.s = S.SpdySession(client=True)
        self.data: dict[int, bytearray] = {}
        self.fin: set[int] = set()
        self.replied: set[int] = set()
        self.reset: dict[int, int] = {}

    async def flush(self) -> None:
        out = self.s.data_to_send()
        if out:
            await self.write(out)

    async def pump_until(self, cond: Any, timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not cond():
                chunk = await self.read()
                assert chunk, "connection closed"
                for ev in self.s.receive(chunk):
                    if isinstance(ev, S.DataReceived):
                        self.data.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                        if ev.fin:
                            self.fin.add(ev.stream_id)
                    elif isinstance(ev, S.StreamReplied):
                        self.replied.add(ev.stream_id)
                    elif isinstance(ev, S.StreamReset):
                        self.reset[ev.stream_id] = ev.status
                await self.flush()
        await asyncio.wait_for(loop(), timeout)

    async def request(self, port: int, rid: str) -> tuple[int, int]:
        err = self.s.open_stream({"streamtype": "error", "port": str(port), "requestid": rid})
        self.s.end_stream(err)  # client-go closes its side of the error stream at once
        data = self.s.open_stream({"streamtype": "data", "port": str(port), "requestid": rid})
        await self.flush()
        await self.pump_until(lambda: {err, data} <= self.replied)
        return err, data


async def _raw_spdy(base: str, path: str) -> tuple[SpdyClient, asyncio.StreamWriter, bytes]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                 f"X-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")

    async def write(b: bytes) -> None:
        writer.write(b)
        await writer.drain()
    return SpdyClient(lambda: reader.read(65536), write), writer, head


async def test_direct_spdy_echo_and_half_close(env: tuple[str, int]) -> None:
    base, _ = env
    c, writer, head = await _raw_spdy(base, "/portForward/default/echo")
    try:
        assert head.startswith(b"HTTP/1.1 101")
        assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
        err, data = await c.request(80, "0")
        big = bytes(range(256)) * 1024  # 256 KiB: more than a SPDY window, in several frames
        c.s.send_data(data, b"hello " + big)
        await c.flush()
        await c.pump_until(lambda: len(c.data.get(data, b"")) == 6 + len(big))
        assert bytes(c.data[data]) == b"hello " + big
        # a second connection multiplexed on the same SPDY session
        err2, data2 = await c.request(80, "1")
        c.s.send_data(data2, b"second", fin=True)  # client half-closes: the echo server ends
        await c.flush()
        await c.pump_until(lambda: data2 in c.fin and err2 in c.fin)
        assert bytes(c.data[data2]) == b"second"
        assert not c.data.get(err2)  # no error text
    finally:
        writer.close()


async def test_direct_spdy_reports_dial_errors_on_error_stream(env: tuple[str, int]) -> None:
    base, _ = env
    for pod, expect in (("plain", "has no sim.tugboat.dev/portforward-to annotation"),
                        ("closed", "failed to connect to 127.0.0.1:1")):
        c, writer, _ = await _raw_spdy(base, f"/portForward/default/{pod}")
        try:
            err, data = await c.request(8080, "0")
            await c.pump_until(lambda c=c, err=err, data=data: err in c.fin and data in c.fin)
            text = bytes(c.data[err]).decode()
            assert text.startswith(f"error forwarding port 8080 to pod default/{pod}, uid uid-{pod}: ")
            assert expect in text
        finally:
            writer.close()


async def test_spdy_rejects_a_stream_without_port(env: tuple[str, int]) -> None:
    base, _ = env
    c, writer, _ = await _raw_spdy(base, "/portForward/default/echo")
    try:
        sid = c.s.open_stream({"streamtype": "data", "requestid": "0"})
        await c.flush()
        await c.pump_until(lambda: sid in c.reset)
        assert c.reset[sid] == 5  # CANCEL, as spdystream's Reset()
    finally:
        writer.close()


async def test_spdy_over_websocket(env: tuple[str, int]) -> None:
    base, _ = env
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"{base}/portForward/default/echo", protocols=("SPDY/3.1+portforward.k8s.io",)) as ws:
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"

        async def read() -> bytes:
            msg = await ws.receive()
            return bytes(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else b""

        async def write(b: bytes) -> None:
            for i in range(0, len(b), 7):  # tiny messages: boundaries must not matter
                await ws.send_bytes(b[i:i + 7])
        c = SpdyClient(read, write)
        _, data = await c.request(80, "0")
        c.s.send_data(data, b"over websocket")
        await c.flush()
        await c.pump_until(lambda: bytes(c.data.get(data, b"")) == b"over websocket")


async def test_channel_protocol_like_the_python_client(env: tuple[str, int]) -> None:
    base, _ = env
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"{base}/portForward/default/echo?port=80&port=8080",
            protocols=("v5.channel.k8s.io", "v4.channel.k8s.io")) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        first = [bytes((await ws.receive()).data) for _ in range(4)]
        assert first == [b"\x00" + struct.pack("<H", 80), b"\x01" + struct.pack("<H", 80),
                         b"\x02" + struct.pack("<H", 8080), b"\x03" + struct.pack("<H", 8080)]
        await ws.send_bytes(b"\x02ping on 8080")
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert bytes(msg.data) == b"\x02ping on 8080"


async def test_channel_protocol_error_and_missing_ports(env: tuple[str, int]) -> None:
    base, _ = env
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base}/portForward/default/plain?ports=81",
                                   protocols=("v4.channel.k8s.io",)) as ws:
            msgs = [bytes((await asyncio.wait_for(ws.receive(), 5)).data) for _ in range(3)]
            assert msgs[2].startswith(b"\x01error forwarding port 81 to pod default/plain")
            assert (await asyncio.wait_for(ws.receive(), 5)).type == aiohttp.WSMsgType.CLOSE
        with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
            await http.ws_connect(f"{base}/portForward/default/echo", protocols=("v4.channel.k8s.io",))
        assert ei.value.status == 400
        async with http.get(f"{base}/portForward/default/nope") as r:
            assert r.status == 404


class _Pipe:
    """An in-memory byte channel for driving SpdyForwarder without sockets."""

    def __init__(self) -> None:
        self.inq: asyncio.Queue[bytes] = asyncio.Queue()
        self.outq: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.inq.get()

    async def write(self, data: bytes) -> None:
        self.outq.put_nowait(data)

    async def close(self) -> None:
        self.outq.put_nowait(b"")


async def test_a_request_missing_its_data_stream_times_out() -> None:
    from tugboat.node.server.portforward_spdy import SpdyForwarder

    async def never(port: int) -> Any:
        raise AssertionError("must not dial without both streams")
    pipe = _Pipe()
    fwd = SpdyForwarder(pipe, never, lambda p: f"port {p}", stream_timeout=0.05)
    task = asyncio.create_task(fwd.run())
    c = SpdyClient(pipe.outq.get, pipe.inq.put)
    err = c.s.open_stream({"streamtype": "error", "port": "80", "requestid": "9"})
    await c.flush()
    await c.pump_until(lambda: err in c.fin)
    assert b"request=9) timed out waiting for streams" in bytes(c.data[err])
    pipe.inq.put_nowait(b"")  # client goes away: the forwarder ends and closes the channel
    await asyncio.wait_for(task, 5)
