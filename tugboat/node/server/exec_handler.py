"""`/exec/{namespace}/{pod}/{container}` and `/attach/…` over WebSocket (remotecommand).

The API server forwards the client's upgrade here (GET or POST, query `command=…` repeated,
`input|stdin`, `output|stdout`, `error|stderr`, `tty` — the kubelet's names and the API's both
accepted). We upgrade first and report every later problem as the final Status on channel 3,
so the client sees a clean error instead of a failed handshake. Then: channel 0 → the
command's stdin, 4 → terminal resize, 255/0 (v5) → stdin EOF; stdout → 1, stderr → 2; at the
end the exit status on 3 (`NonZeroExitCode` with the code as a cause) and a normal close. The
client closing the socket kills the command. With a tty, kubectl sends its terminal's size
right after connecting: we wait briefly for it (buffering any stdin that comes first) and start
the command on a terminal of that size, so `stty size` or a full-screen program is right at once.

Attach: the container's stdio belong to its shim, which writes the output to the CRI log, so
attach streams the log from its current end (stdout → 1, stderr → 2) until the container
exits. A container with `stdin: true` keeps its stdin in the shim: channel 0 goes there,
resize (4) sets its terminal's size, and the v5 stdin close is passed on (the shim closes a
stdinOnce container's stdin then, or when this first session leaves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from tugboat.node.logs import LogOptions, read_log
from tugboat.node.runtime.base import AttachStdin, ExecStream, SupportsAttach, SupportsExecStream
from tugboat.node.server import channels as ch
from tugboat.node.server.lookup import Target, Unavailable, find_container, log_path
from tugboat.node.server.util import AGENT, status_response

log = logging.getLogger(__name__)
_TRUE = ("1", "true", "True", "TRUE", "t")
FIRST_RESIZE_WAIT = 0.5  # seconds a tty exec waits for the client's terminal size before starting
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class _Session:
    """One upgraded connection: framing, a send lock, and what the client asked for."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request):
        self.ws = ws
        self.framing = ch.Framing(ws.ws_protocol or ch.V1)
        q = request.query
        flag = lambda *names: any(q.get(n) in _TRUE for n in names)  # noqa: E731
        self.stdin = flag("input", "stdin")
        self.tty = flag("tty")
        self.stdout = flag("output", "stdout")
        self.stderr = flag("error", "stderr") and not self.tty
        self.command = q.getall("command", [])
        self._lock = asyncio.Lock()

    async def send(self, channel: int, data: bytes) -> None:
        if (channel == ch.STDOUT and not self.stdout) or (channel == ch.STDERR and not self.stderr):
            return
        await self._send(self.framing.encode(channel, data))

    async def _send(self, msg: bytes | str) -> None:
        async with self._lock:
            if isinstance(msg, str):
                await self.ws.send_str(msg)
            else:
                await self.ws.send_bytes(msg)

    async def finish(self, status: dict[str, Any]) -> None:
        msg = self.framing.status(status)
        with contextlib.suppress(ConnectionError, RuntimeError):
            if msg is not None:
                await self._send(msg)
            await self.ws.close()


async def _upgrade(request: web.Request) -> _Session | web.Response:
    ws = web.WebSocketResponse(protocols=ch.PROTOCOLS, autoping=True, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        return status_response(400, "BadRequest", "Upgrade request required (WebSocket, subprotocol "
                                                  "v5.channel.k8s.io or v4.channel.k8s.io)")
    await ws.prepare(request)
    return _Session(ws, request)


async def _target(request: web.Request, s: _Session) -> Target | None:
    ns, name, cname = (request.match_info[k] for k in ("namespace", "pod", "container"))
    try:
        t = await find_container(request.app[AGENT], ns, name, cname)
    except Unavailable as e:
        await s.finish(ch.failure(e.message, e.reason, e.code))
        return None
    if t.latest is None or t.latest.state != "running":
        await s.finish(ch.failure(f'container not found ("{cname}")', "NotFound", 404))
        return None
    return t


async def exec_handler(request: web.Request) -> web.StreamResponse:
    s = await _upgrade(request)
    if isinstance(s, web.Response):
        return s
    t = await _target(request, s)
    if t is None or t.latest is None:
        return s.ws
    if not s.command:
        await s.finish(ch.failure("you must specify at least 1 command", "BadRequest", 400))
        return s.ws
    rt = request.app[AGENT].runtime
    if not isinstance(rt, SupportsExecStream):
        res = await rt.exec_sync(t.latest.id, s.command, 0)
        await s.send(ch.STDOUT, res.stdout)
        await s.send(ch.STDERR, res.stderr)
        await s.finish(ch.exit_status(res.exit_code))
        return s.ws
    size, early, pending = await _first_resize(s) if s.tty else (None, [], None)
    try:
        proc = await rt.exec_stream(t.latest.id, s.command, tty=s.tty, stdin=s.stdin, size=size)
    except (RuntimeError, OSError) as e:
        if pending is not None:
            pending.cancel()
        await s.finish(ch.failure(str(e)))
        return s.ws
    status = await _run(s, proc, early, pending)
    if status is not None:
        await s.finish(status)
    return s.ws


async def _first_resize(s: _Session) -> tuple[tuple[int, int] | None, list[WSMessage],
                                              asyncio.Task[WSMessage] | None]:
    """The client's terminal size if it sends one within FIRST_RESIZE_WAIT; the messages read
    before it (stdin, for the command once started) and a receive still in flight."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FIRST_RESIZE_WAIT
    early: list[WSMessage] = []
    while True:
        task = loop.create_task(s.ws.receive())
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if not done:
            return None, early, task
        msg = task.result()
        if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
            frame = s.framing.decode(msg.data)
            if frame is not None and frame[0] == ch.RESIZE and (size := ch.parse_resize(frame[1])) is not None:
                return size, early, None
        early.append(msg)
        if msg.type in _ENDS:
            return None, early, None


async def _run(s: _Session, proc: ExecStream, early: list[WSMessage] | None = None,
               pending: asyncio.Task[WSMessage] | None = None) -> dict[str, Any] | None:
    """Pump until the command ends (its Status) or the client leaves (None; command killed)."""
    client = asyncio.get_running_loop().create_task(_client_to_proc(s, proc, early or [], pending))

    async def output() -> int:
        while True:
            channel, data = await proc.read()
            if channel == 0:
                return await proc.wait()
            await s.send(channel, data)

    out = asyncio.get_running_loop().create_task(output())
    try:
        await asyncio.wait({client, out}, return_when=asyncio.FIRST_COMPLETED)
        if out.done():
            return ch.exit_status(out.result())
        await proc.kill()  # the client went away
        return None
    except (ConnectionError, RuntimeError) as e:
        await proc.kill()
        log.debug("exec stream ended: %s", e)
        return None
    finally:
        for task in (client, out):
            task.cancel()
        await asyncio.gather(client, out, return_exceptions=True)


async def _client_to_proc(s: _Session, proc: ExecStream, early: list[WSMessage],
                          pending: asyncio.Task[WSMessage] | None) -> None:
    try:
        if pending is not None:
            early.append(await pending)
    finally:
        if pending is not None:
            pending.cancel()
    for msg in early:
        if msg.type in _ENDS:
            return
        await _deliver(s, proc, msg)
    async for msg in s.ws:
        await _deliver(s, proc, msg)


async def _deliver(s: _Session, proc: ExecStream, msg: WSMessage) -> None:
    if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
        return
    frame = s.framing.decode(msg.data)
    if frame is None:
        return
    channel, payload = frame
    if channel == ch.STDIN and s.stdin:
        await proc.write(payload)
    elif channel == ch.RESIZE:
        size = ch.parse_resize(payload)
        if size is not None:
            proc.resize(*size)
    elif channel == ch.CLOSE and s.framing.has_close and payload[:1] == b"\x00":
        await proc.close_stdin()


async def attach_handler(request: web.Request) -> web.StreamResponse:
    s = await _upgrade(request)
    if isinstance(s, web.Response):
        return s
    t = await _target(request, s)
    if t is None or t.latest is None:
        return s.ws
    agent, st = request.app[AGENT], t.latest
    path = log_path(agent, t, st)

    async def running() -> bool:
        cur = await agent.runtime.container_status(st.id)
        return cur is not None and cur.state == "running"

    async def follow(stream: str, channel: int) -> None:
        opts = LogOptions(follow=True, tail_lines=0, streams=frozenset({stream}))
        async for chunk in read_log(path, opts, running):
            await s.send(channel, chunk)

    rt = agent.runtime
    stdin: AttachStdin | None = None
    if s.stdin and isinstance(rt, SupportsAttach):
        stdin = await rt.attach_stdin(st.id)

    async def drain_client() -> None:
        async for msg in s.ws:
            if stdin is not None:
                await _to_stdin(s, stdin, msg)

    tasks = [asyncio.get_running_loop().create_task(c) for c in
             (follow("stdout", ch.STDOUT), follow("stderr", ch.STDERR))]
    client = asyncio.get_running_loop().create_task(drain_client())
    try:
        pending: set[asyncio.Task[None]] = {*tasks, client}
        while not client.done() and not all(t.done() for t in tasks):
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        client_left = client.done()
    finally:
        for task in (*tasks, client):
            task.cancel()
        await asyncio.gather(*tasks, client, return_exceptions=True)
        if stdin is not None:
            await stdin.close()
    if not client_left:  # the container ended: no reader may be waiting on the socket when we close it
        await s.finish(ch.success())
    return s.ws


async def _to_stdin(s: _Session, stdin: AttachStdin, msg: WSMessage) -> None:
    if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
        return
    frame = s.framing.decode(msg.data)
    if frame is None:
        return
    channel, payload = frame
    try:
        if channel == ch.STDIN:
            await stdin.write(payload)
        elif channel == ch.RESIZE and (size := ch.parse_resize(payload)) is not None:
            await stdin.resize(*size)
        elif channel == ch.CLOSE and s.framing.has_close and payload[:1] == b"\x00":
            await stdin.close_stdin()
    except (ConnectionError, OSError) as e:  # the container exited: its output tells the rest
        log.debug("attach stdin ended: %s", e)
