"""Port-forward over the WebSocket channel protocol (the Python client's `portforward()`).

`GET …/portforward?ports=80,443` (the agent sees `?port=80&port=443`) upgraded with subprotocol `v4.channel.k8s.io` (or its base64
variant, or none). Each requested port gets two channels — data `2i`, error `2i+1` — and the
server's first message on each is the port number as two little-endian bytes. The agent dials
every port at once; client messages on a data channel go to that TCP connection, pod bytes come
back on it, and a failure is written as text on the error channel. The WebSocket closes once
every port's connection ended (as upstream's wsstream does), or when the client closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable

from aiohttp import WSMsgType, web

from tugboat.node.server.channels import Framing
from tugboat.node.server.portforward_spdy import Dialer

log = logging.getLogger(__name__)
PROTOCOLS = ("v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io")


def parse_ports(values: list[str]) -> list[int]:
    """The `ports` query parameter(s), comma-separated; ValueError with upstream's message."""
    if not values:
        raise ValueError('query parameter "port" is required')
    out = []
    for value in values:
        if not value:
            raise ValueError('query parameter "port" cannot be empty')
        for p in value.split(","):
            try:
                port = int(p)
                if not 0 <= port < 65536:
                    raise ValueError
            except ValueError:
                raise ValueError(f'unable to parse "{value}" as a port') from None
            if port < 1:
                raise ValueError(f'port "{value}" must be > 0')
            out.append(port)
    return out


async def serve(ws: web.WebSocketResponse, ports: list[int], dial: Dialer, describe: Callable[[int], str]) -> None:
    framing = Framing(ws.ws_protocol or "channel.k8s.io")
    inboxes: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in ports]
    lock = asyncio.Lock()

    async def send(channel: int, payload: bytes) -> None:
        msg = framing.encode(channel, payload)
        async with lock:
            if isinstance(msg, str):
                await ws.send_str(msg)
            else:
                await ws.send_bytes(msg)

    for i, port in enumerate(ports):
        await send(2 * i, struct.pack("<H", port))
        await send(2 * i + 1, struct.pack("<H", port))

    async def forward(i: int, port: int) -> None:
        try:
            reader, writer = await dial(port)
        except Exception as e:  # noqa: BLE001 — reported to the client
            await send(2 * i + 1, f"{describe(port)}: {e}".encode())
            return

        async def to_pod() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while (chunk := await inboxes[i].get()) is not None:
                    writer.write(chunk)
                    await writer.drain()

        inbound = asyncio.create_task(to_pod())
        try:
            while data := await reader.read(32 * 1024):
                await send(2 * i, data)
        except (ConnectionError, OSError):
            pass
        finally:
            inbound.cancel()
            writer.close()

    tasks = [asyncio.create_task(forward(i, p)) for i, p in enumerate(ports)]
    reader_task = asyncio.create_task(_read(ws, framing, inboxes))

    async def all_ports() -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
    ports_task = asyncio.create_task(all_ports())
    try:
        await asyncio.wait([ports_task, reader_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (*tasks, reader_task, ports_task):
            t.cancel()
        await asyncio.gather(*tasks, reader_task, ports_task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await ws.close()


async def _read(ws: web.WebSocketResponse, framing: Framing, inboxes: list[asyncio.Queue[bytes | None]]) -> None:
    async for msg in ws:
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        got = framing.decode(msg.data)
        if got is None:
            continue
        channel, payload = got
        if channel % 2 == 0 and channel // 2 < len(inboxes) and payload:
            inboxes[channel // 2].put_nowait(payload)
    for q in inboxes:
        q.put_nowait(None)
