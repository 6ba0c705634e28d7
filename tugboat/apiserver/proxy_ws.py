"""exec / attach / portforward: a WebSocket from the client, another to the node agent, frames
pumped both ways.

Order matters (CVE-2018-1002105): the agent's upgrade is done FIRST, offering exactly the
subprotocols the client offered; only when the agent answered 101 is the client's upgrade
accepted, with the subprotocol the agent chose (kubectl 1.32: `v5.channel.k8s.io`; the Python
client offers v5 and v4). A non-101 from the agent becomes a plain HTTP Status and the client
connection is never upgraded. Frames are copied unchanged (binary and text), so every channel
protocol — and port-forward's SPDY-over-WebSocket tunnel — passes through; pings are answered
on each hop. When either side closes, the other is closed with the same code.

Validation happens before anything is dialled, as upstream: the container must exist, exec
needs a command, and a completed pod (Succeeded/Failed) refuses exec and attach.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import WSMsgType, web

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .auth_ws import PROTOCOL_PREFIX
from .context import Ctx
from .proxy import NodeProxy, agent_base, get_pod, node_proxy, validate_container
from .request import Req

log = logging.getLogger(__name__)


@dataclass
class UpgradeResp:
    """A handler result the HTTP edge hands the raw aiohttp request to (server.py)."""

    serve: Callable[[web.Request], Awaitable[web.StreamResponse]]


def offered_protocols(req: Req) -> list[str]:
    raw = req.headers.get("Sec-WebSocket-Protocol", "")
    # the browser's bearer-token subprotocol (auth_ws.py) authenticates to us, never to the node
    return [p.strip() for p in raw.split(",") if p.strip() and not p.strip().startswith(PROTOCOL_PREFIX)]


async def stream(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str, sub: str) -> UpgradeResp:
    if req.method not in ("GET", "POST"):
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    pod = await get_pod(ctx, rt, ns, name)
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    params: list[tuple[str, str]] = []
    if sub in ("exec", "attach"):
        container = validate_container(pod, req.param("container"))
        command = _all(req, "command")
        if sub == "exec" and not command:
            raise errors.bad_request("you must specify at least 1 command")
        phase = (pod.get("status") or {}).get("phase", "")
        if phase in ("Succeeded", "Failed"):
            verb = "exec into" if sub == "exec" else "attach to"
            raise errors.bad_request(f"cannot {verb} a container in a completed pod; current phase is {phase}")
        params += [("command", c) for c in command]
        for api_name, kubelet_name in (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")):
            if req.flag(api_name):
                params.append((kubelet_name, "1"))
        path = f"/{sub}/{_q(ns)}/{_q(name)}/{_q(container)}"
    else:
        ports = _all(req, "ports")
        if ports:
            params.append(("port", ",".join(ports)))
        path = f"/portForward/{_q(ns)}/{_q(name)}"
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    # after validation: kubectl retries a failed WebSocket upgrade with SPDY and shows that error
    if req.header("Upgrade").lower() != "websocket":
        raise errors.bad_request(f"pods/{sub} needs a WebSocket upgrade (Upgrade: websocket, subprotocol "
                                 f"v5.channel.k8s.io); SPDY is not supported")
    np = node_proxy(ctx)
    url = f"{await agent_base(ctx, node_name)}{path}?{urllib.parse.urlencode(params)}"
    protocols = offered_protocols(req)

    async def serve(request: web.Request) -> web.StreamResponse:
        return await _pump(np, url, protocols, request)
    return UpgradeResp(serve)


def _status_response(err: ApiError) -> web.Response:
    return web.Response(status=err.code, body=orjson.dumps(err.to_status()), content_type="application/json")


async def _pump(np: NodeProxy, url: str, protocols: list[str], request: web.Request) -> web.StreamResponse:
    session = np.session()
    try:
        try:
            backend = await session.ws_connect(url, protocols=protocols, autoping=True, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            return _status_response(ApiError(e.status if e.status >= 400 else 502, "",
                                             f"error upgrading connection to the node agent: {e.status} {e.message}"))
        except (aiohttp.ClientError, OSError) as e:
            return _status_response(errors.internal(f"error dialing backend: {e}"))
        client = web.WebSocketResponse(protocols=[backend.protocol] if backend.protocol else (),
                                       autoping=True, max_msg_size=0)
        if not client.can_prepare(request).ok:
            await backend.close()
            return _status_response(errors.bad_request("WebSocket upgrade expected"))
        await client.prepare(request)
        await _splice(client, backend)
        return client
    finally:
        await session.close()


async def _copy(src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    async for msg in src:
        if msg.type == WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break


async def _splice(client: web.WebSocketResponse, backend: aiohttp.ClientWebSocketResponse) -> None:
    loop = asyncio.get_running_loop()
    up = loop.create_task(_copy(client, backend))
    down = loop.create_task(_copy(backend, client))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (up, down):
            t.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        code = backend.close_code or 1000
        with contextlib.suppress(Exception):
            await client.close(code=code if 1000 <= code < 5000 else 1000)
        with contextlib.suppress(Exception):
            await backend.close()


def _all(req: Req, key: str) -> list[str]:
    """Every value of a repeated query parameter (`command=ls&command=-l`)."""
    getall = getattr(req.query, "getall", None)
    if getall is not None:
        return [str(v) for v in getall(key, [])]
    return list(req.query_all.get(key) or ([req.param(key)] if req.param(key) else []))


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")
