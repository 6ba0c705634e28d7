"""Take over an aiohttp server connection after `101 Switching Protocols` as a raw byte stream.

SPDY over a direct `Upgrade: SPDY/3.1` (the agent serving kubectl's fallback) and the API
server's upgrade tunnel (bytes relayed verbatim to the agent, whatever the protocol) both need
the socket itself once the 101 is written — aiohttp only offers that for WebSockets. `hijack`
writes the 101 through aiohttp (so the connection is marked close-after-handler), installs
itself as the protocol's payload parser so every later byte lands in a queue, and returns a
`RawStream` with `read()` / `write()` / `close()`. Read back-pressure pauses the transport.

This is the package's only I/O module (aiohttp); the codecs beside it are pure.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web

_HIGH_WATER = 1 << 20


class RawStream:
    """The upgraded connection. `read()` returns b"" at EOF."""

    def __init__(self, request: web.Request, resp: web.StreamResponse):
        self._resp = resp
        self._transport = request.transport
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # aiohttp's payload-parser interface (called from the protocol's data_received)
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._chunks.append(bytes(data))
            self._size += len(data)
            if self._size > _HIGH_WATER and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
            self._wake()
        return False, b""

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def read(self) -> bytes:
        while not self._chunks:
            if self._eof or self._transport is None or self._transport.is_closing():
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._paused and self._size < _HIGH_WATER // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("connection closed")
        await self._resp.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.feed_eof()


async def hijack(request: web.Request, headers: Mapping[str, str]) -> tuple[web.StreamResponse, RawStream]:
    """Answer 101 with `headers` and return the raw stream. The handler must return the
    response object when it is done with the stream (aiohttp then closes the connection)."""
    resp = web.StreamResponse(status=101, headers=dict(headers))
    resp.force_close()
    await resp.prepare(request)
    stream = RawStream(request, resp)
    proto: Any = request.protocol
    proto.set_parser(stream)
    proto.keep_alive(False)
    return resp, stream
