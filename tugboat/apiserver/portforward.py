"""`pods/{name}/portforward`: relay the client's HTTP upgrade to the node agent, then tunnel bytes.

Port-forward clients speak three protocols (SPDY/3.1 inside a WebSocket — kubectl 1.32's
default; SPDY/3.1 directly after `Upgrade: SPDY/3.1` — kubectl's fallback; the WebSocket
channel protocol with `?ports=` — the Python client). The API server does not need to
understand any of them: like upstream's UpgradeAwareHandler it sends the upgrade request
(with the client's Upgrade, Sec-WebSocket-* and X-Stream-Protocol-Version headers) to the
agent's `/portForward/{ns}/{pod}` first, and only if the agent answers 101 does it answer the
client with that same 101 — then it copies bytes both ways until either side closes, and
closes the other. A non-101 from the agent goes back as a plain response; the client's
connection is never upgraded (CVE-2018-1002105). Because the WebSocket handshake is relayed
verbatim, the agent's Sec-WebSocket-Accept answers the client's own key.

The agent is reached as proxy.py locates it (Node addresses + daemonEndpoints port) with the
API server's kubelet-client TLS identity (ctx.extras["node_proxy"]).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from typing import Any

import orjson
from aiohttp import web

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType
from tugboat.net.spdy_upgrade import RawStream, hijack

from .context import Ctx
from .proxy import agent_base, get_pod, node_proxy
from .proxy_ws import UpgradeResp
from .request import Req

log = logging.getLogger(__name__)
_FORWARDED = ("Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
              "X-Stream-Protocol-Version")
_RETURNED = ("Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
             "X-Stream-Protocol-Version")
DIAL_TIMEOUT = 10.0
HEAD_LIMIT = 64 * 1024


async def portforward(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> UpgradeResp:
    if req.method not in ("GET", "POST"):
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    upgrade = req.header("Upgrade").lower()
    if upgrade != "websocket" and not upgrade.startswith("spdy/"):
        raise errors.bad_request("Upgrade request required")
    pod = await get_pod(ctx, rt, ns, name)
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    ports = [p for v in (req.query_all.get("ports") or ([req.param("ports")] if req.param("ports") else []))
             for p in v.split(",") if p]
    np = node_proxy(ctx)
    base = urllib.parse.urlsplit(await agent_base(ctx, node_name))
    path = f"/portForward/{_q(ns)}/{_q(name)}"
    if ports:
        path += "?" + urllib.parse.urlencode([("port", p) for p in ports])
    host, port = base.hostname or "", base.port or 10250

    async def serve(request: web.Request) -> web.StreamResponse:
        return await _tunnel(request, host, port, np.ssl_context, path)
    return UpgradeResp(serve)


def _status(err: ApiError) -> web.Response:
    return web.Response(status=err.code, body=orjson.dumps(err.to_status()), content_type="application/json")


def _request_head(request: web.Request, host: str, port: int, path: str) -> bytes:
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {hostport}", "Connection: Upgrade"]
    for h in _FORWARDED:
        values = request.headers.getall(h, [])
        if values:
            lines.append(f"{h}: {', '.join(values)}")
    if request.method == "POST":
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"bad status line {lines[0]!r}")
    hdrs = []
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            hdrs.append((k.strip(), v.strip()))
    return int(parts[1]), hdrs


async def _tunnel(request: web.Request, host: str, port: int, ssl_ctx: Any, path: str) -> web.StreamResponse:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl_ctx, server_hostname=host if ssl_ctx else None,
                                    limit=256 * 1024), DIAL_TIMEOUT)
    except (TimeoutError, OSError) as e:
        return _status(errors.internal(f"error dialing backend: {e or 'timeout'}"))
    try:
        writer.write(_request_head(request, host, port, path))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status, hdrs = _parse_head(head[:-4])
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        writer.close()
        return _status(errors.internal(f"error upgrading connection to the node agent: {e}"))
    if status != 101:
        return await _relay_failure(reader, writer, status, hdrs)
    back = {k: v for k, v in hdrs if k.lower() in {h.lower() for h in _RETURNED}}
    resp, client = await hijack(request, back)
    await _splice(client, reader, writer)
    return resp


async def _relay_failure(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int,
                         hdrs: list[tuple[str, str]]) -> web.Response:
    h = {k.lower(): v for k, v in hdrs}
    body = b""
    with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        n = int(h.get("content-length", "-1"))
        body = await asyncio.wait_for(reader.readexactly(n) if n >= 0 else reader.read(HEAD_LIMIT), 5)
    writer.close()
    ct = h.get("content-type", "text/plain; charset=utf-8")
    return web.Response(status=status if 200 <= status < 600 else 502, body=body, headers={"Content-Type": ct})


async def _splice(client: RawStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def up() -> None:
        while data := await client.read():
            writer.write(data)
            await writer.drain()

    async def down() -> None:
        while data := await reader.read(64 * 1024):
            await client.write(data)

    tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        client.close()


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")
