"""Watch over WebSocket: each watch event one text message (upstream serves `?watch=1` this way
when the request is a WebSocket upgrade).

Why: a browser opens at most 6 HTTP/1.1 connections per host, and every chunked watch holds
one for its whole life, so a page watching ten kinds starves its own requests. WebSockets do
not count against that limit. Browsers cannot set headers on a WebSocket, so the token comes
in the bearer subprotocol (auth_ws.py); the server answers with the first offered protocol,
which a browser requires when it offered any.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from .request import StreamResp


def wants_ws(request: web.Request, resp: StreamResp) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket" and "json" in resp.content_type


async def serve(request: web.Request, resp: StreamResp) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    ws = web.WebSocketResponse(protocols=offered[:1], autoping=True, heartbeat=30)
    await ws.prepare(request)

    async def pump() -> None:
        async for chunk in resp.chunks:
            for line in chunk.split(b"\n"):
                if line.strip():
                    await ws.send_str(line.decode())

    task = asyncio.ensure_future(pump())

    async def reader() -> None:
        async for _ in ws:  # the browser sends nothing; this ends when it closes
            pass

    read = asyncio.ensure_future(reader())
    try:
        await asyncio.wait({task, read}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, read):
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        aclose = getattr(resp.chunks, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
        await ws.close()
    return ws
