"""The agent's `/portForward/{namespace}/{pod}` endpoint (upstream kubelet path), three transports:

- WebSocket, subprotocol `SPDY/3.1+portforward.k8s.io`: kubectl 1.32's default. The binary
  messages carry a raw SPDY/3.1 byte stream (message boundaries mean nothing).
- `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version: portforward.k8s.io`: kubectl's fallback
  (and every older kubectl); SPDY directly on the upgraded connection.
- WebSocket `v4.channel.k8s.io` (or base64 / no subprotocol) with `?ports=`: the channel
  protocol of the Python client (portforward_ws.py).

The API server relays the client's upgrade here byte for byte, so what the client negotiated
is what this handler sees. Dialing is portforward_dial.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tugboat.net.spdy_upgrade import hijack
from tugboat.node.server import portforward_dial, portforward_ws
from tugboat.node.server.lookup import LookupError_, find_pod
from tugboat.node.server.portforward_spdy import Dialer, SpdyForwarder
from tugboat.node.server.util import AGENT, status_response

SPDY_WS_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_PROTOCOL = "portforward.k8s.io"


class WsBytes:
    """A WebSocket as a byte channel: binary messages are chunks of one byte stream."""

    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws

    async def read(self) -> bytes:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                if msg.data:
                    return str(msg.data).encode()
            else:
                return b""  # CLOSE / CLOSED / ERROR

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def close(self) -> None:
        await self.ws.close()


class RawBytes:
    def __init__(self, stream: Any):
        self.stream = stream

    async def read(self) -> bytes:
        data: bytes = await self.stream.read()
        return data

    async def write(self, data: bytes) -> None:
        await self.stream.write(data)

    async def close(self) -> None:
        self.stream.close()


def _offered(request: web.Request) -> list[str]:
    return [p.strip() for h in request.headers.getall("Sec-WebSocket-Protocol", [])
            for p in h.split(",") if p.strip()]


def _dialer(agent: Any, pod: dict[str, Any]) -> Dialer:
    simulated = bool(getattr(agent, "simulated", False))

    async def dial(port: int) -> Any:
        return await portforward_dial.dial(pod, port, simulated)
    return dial


def _describer(pod: dict[str, Any]) -> Callable[[int], str]:
    md = pod.get("metadata") or {}
    label = f"{md.get('namespace', '')}/{md.get('name', '')}"
    return lambda port: f"error forwarding port {port} to pod {label}, uid {md.get('uid', '')}"


async def port_forward(request: web.Request) -> web.StreamResponse:
    agent = request.app[AGENT]
    ns, name = request.match_info["namespace"], request.match_info["pod"]
    try:
        pod = find_pod(agent, ns, name)
    except LookupError_ as e:
        return status_response(e.code, e.reason, e.message)
    uid = request.match_info.get("uid")
    if uid and uid != (pod.get("metadata") or {}).get("uid"):
        return status_response(404, "NotFound", f"pod {ns}/{name} with uid {uid} does not exist")
    dial, describe = _dialer(agent, pod), _describer(pod)
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade == "websocket":
        offered = _offered(request)
        if SPDY_WS_PROTOCOL in offered:
            ws = web.WebSocketResponse(protocols=(SPDY_WS_PROTOCOL,), max_msg_size=0, autoping=True)
            await ws.prepare(request)
            await SpdyForwarder(WsBytes(ws), dial, describe).run()
            return ws
        try:
            # the API server passes `?port=80&port=…` (upstream's kubelet parameter); `ports` as the API's
            ports = portforward_ws.parse_ports(request.query.getall("port", []) + request.query.getall("ports", []))
        except ValueError as e:
            return status_response(400, "BadRequest", str(e))
        if offered and not set(offered) & set(portforward_ws.PROTOCOLS):
            return status_response(400, "BadRequest", f"unable to upgrade websocket connection: requested "
                                                      f"protocol(s) {offered} are not supported")
        ws = web.WebSocketResponse(protocols=portforward_ws.PROTOCOLS, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        await portforward_ws.serve(ws, ports, dial, describe)
        return ws
    if upgrade.startswith("spdy/3.1"):
        versions = [v.strip() for h in request.headers.getall("X-Stream-Protocol-Version", [])
                    for v in h.split(",") if v.strip()]
        if versions and PORTFORWARD_PROTOCOL not in versions:
            return web.Response(status=403, text=f"unable to upgrade: unable to negotiate protocol: client "
                                                 f"supports {versions}, server supports [{PORTFORWARD_PROTOCOL}]")
        headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
        if versions:
            headers["X-Stream-Protocol-Version"] = PORTFORWARD_PROTOCOL
        resp, stream = await hijack(request, headers)
        with contextlib.suppress(ConnectionError):
            await SpdyForwarder(RawBytes(stream), dial, describe).run()
        return resp
    return status_response(400, "BadRequest", "Upgrade request required")


def register(app: web.Application) -> None:
    for method in ("GET", "POST"):
        app.router.add_route(method, "/portForward/{namespace}/{pod}", port_forward)
        app.router.add_route(method, "/portForward/{namespace}/{pod}/{uid}", port_forward)
