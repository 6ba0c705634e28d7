"""Serve kubectl's SPDY port-forward protocol over any byte channel (direct upgrade or WebSocket).

Per forwarded local connection kubectl opens two streams with headers `streamtype: error|data`,
`port: <n>`, `requestid: <id>`; once both of a request id arrived the agent dials the port and
pumps bytes between the data stream and the TCP connection. A failure is written as text to
the error stream (upstream's wording: `error forwarding port P to pod NS/NAME, uid U: …`).
Client FIN on the data stream half-closes the TCP connection; pod EOF FINs both streams.
A request whose second stream does not arrive within 30 s gets `timed out waiting for
streams` (upstream's stream-creation timeout).

One writer task serializes every outgoing frame (they share one zlib context, so order is
part of correctness); producers wait when its backlog is large, and the reader pauses while a
pod connection has a large inbound backlog — memory stays bounded even though kubectl's
spdystream ignores SPDY flow control.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tugboat.net import spdy_frames as F
from tugboat.net import spdy_session as S

log = logging.getLogger(__name__)
STREAM_CREATION_TIMEOUT = 30.0
_BACKLOG = 1 << 20
_INBOX = 4 << 20

Dialer = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class ByteChannel(Protocol):
    async def read(self) -> bytes: ...  # b"" at EOF

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


@dataclass
class _Pair:
    request_id: str
    port: int = 0
    data_id: int = 0
    error_id: int = 0
    inbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    queued: int = 0
    room: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    writer: asyncio.StreamWriter | None = None
    done: bool = False


def _validate(headers: F.Headers) -> tuple[int, str]:
    """(port, streamtype) or ValueError with upstream's message."""
    port_s = headers.get("port", "")
    if not port_s:
        raise ValueError('"port" header is required')
    try:
        port = int(port_s)
        if not 0 <= port < 65536:
            raise ValueError
    except ValueError:
        raise ValueError(f'unable to parse "{port_s}" as a port') from None
    if port < 1:
        raise ValueError(f'port "{port_s}" must be > 0')
    kind = headers.get("streamtype", "")
    if not kind:
        raise ValueError('"streamType" header is required')
    if kind not in ("error", "data"):
        raise ValueError(f'invalid stream type "{kind}"')
    return port, kind


class SpdyForwarder:
    def __init__(self, conn: ByteChannel, dial: Dialer, describe: Callable[[int], str],
                 stream_timeout: float = STREAM_CREATION_TIMEOUT):
        self.conn = conn
        self.dial = dial
        self.describe = describe  # port -> "error forwarding port P to pod X, uid U"
        self.stream_timeout = stream_timeout
        self.session = S.SpdySession()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self._outq: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._backlog = 0
        self._room = asyncio.Event()
        self._room.set()
        self._window = asyncio.Event()
        self._broken = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, p: _Pair, coro: Any) -> asyncio.Task[None]:
        t: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        p.tasks.append(t)
        return t

    # ---- output ---------------------------------------------------------------------------------
    def flush(self) -> None:
        out = self.session.data_to_send()
        if out and not self._broken:
            self._backlog += len(out)
            if self._backlog > _BACKLOG:
                self._room.clear()
            self._outq.put_nowait(out)

    async def _writer(self) -> None:
        while (chunk := await self._outq.get()) is not None:
            try:
                await self.conn.write(chunk)
            except (ConnectionError, RuntimeError, OSError):
                self._broken = True
                return
            self._backlog -= len(chunk)
            if self._backlog <= _BACKLOG // 2:
                self._room.set()

    # ---- main loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        writer = asyncio.create_task(self._writer())
        try:
            while not self._broken:
                data = await self.conn.read()
                if not data:
                    break
                try:
                    events = self.session.receive(data)
                except F.SpdyProtocolError as e:
                    log.info("port-forward: closing connection: %s", e)
                    self.session.goaway(F.GOAWAY_PROTOCOL_ERROR)
                    self.flush()
                    break
                for ev in events:
                    await self._on_event(ev)
                self.flush()
                if any(isinstance(ev, S.GoAwayReceived) for ev in events):
                    break
        finally:
            for p in list(self.pairs.values()):
                self._finish(p)
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._outq.put_nowait(None)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(writer, 5)
            writer.cancel()
            with contextlib.suppress(Exception):
                await self.conn.close()

    async def _on_event(self, ev: S.Event) -> None:
        if isinstance(ev, S.StreamOpened):
            self._opened(ev)
        elif isinstance(ev, S.DataReceived):
            p = self.by_stream.get(ev.stream_id)
            if p is None or ev.stream_id != p.data_id:
                self.session.consumed(ev.stream_id, len(ev.data))  # error stream: nothing to read
                return
            if ev.data:
                p.queued += len(ev.data)
                p.inbox.put_nowait(ev.data)
                if p.queued > _INBOX:
                    p.room.clear()
                    await p.room.wait()
            if ev.fin:
                p.inbox.put_nowait(None)
        elif isinstance(ev, S.StreamReset):
            p = self.by_stream.get(ev.stream_id)
            if p is not None:
                self._finish(p)
        elif isinstance(ev, S.WindowOpened):
            self._window.set()

    def _opened(self, ev: S.StreamOpened) -> None:
        try:
            port, kind = _validate(ev.headers)
        except ValueError as e:
            log.info("port-forward: stream %d rejected: %s", ev.stream_id, e)
            self.session.reset(ev.stream_id, F.CANCEL)
            return
        rid = ev.headers.get("requestid", "")
        if not rid:  # old clients: pair consecutive stream ids (upstream's best effort)
            rid = str(ev.stream_id if kind == "error" else ev.stream_id - 2)
        self.session.reply(ev.stream_id)
        p = self.pairs.get(rid)
        if p is None:
            p = self.pairs[rid] = _Pair(rid, port)
            p.room.set()
            self._spawn(p, self._creation_timeout(p))
        self.by_stream[ev.stream_id] = p
        if (kind == "data" and p.data_id) or (kind == "error" and p.error_id):
            self._error(p, f"error processing stream for request {rid}: {kind} stream already assigned")
            return
        if kind == "data":
            p.data_id = ev.stream_id
        else:
            p.error_id = ev.stream_id
        if p.data_id and p.error_id:
            p.tasks[0].cancel()  # the creation timeout
            self._spawn(p, self._forward(p))

    async def _creation_timeout(self, p: _Pair) -> None:
        await asyncio.sleep(self.stream_timeout)
        if not (p.data_id and p.error_id):
            self._error(p, f"(conn={id(self.conn):#x}, request={p.request_id}) timed out waiting for streams")
            self._finish(p)
            self.flush()

    # ---- one forwarded connection ---------------------------------------------------------------
    def _error(self, p: _Pair, msg: str) -> None:
        if p.error_id:
            self.session.send_data(p.error_id, msg.encode())

    def _finish(self, p: _Pair) -> None:
        if p.done:
            return
        p.done = True
        for sid in (p.data_id, p.error_id):
            if sid:
                self.session.end_stream(sid)
                self.by_stream.pop(sid, None)
        self.pairs.pop(p.request_id, None)
        if p.writer is not None:
            p.writer.close()
        p.room.set()
        self._window.set()  # wake a pump waiting for window: it re-checks `done`

    async def _forward(self, p: _Pair) -> None:
        try:
            reader, p.writer = await self.dial(p.port)
        except Exception as e:  # noqa: BLE001 — every failure is reported to the client
            msg = f"{self.describe(p.port)}: {e}"
            log.info("port-forward: %s", msg)
            self._error(p, msg)
            self._finish(p)
            self.flush()
            return
        inbound = self._spawn(p, self._to_pod(p))
        try:
            await self._from_pod(p, reader)
        except (ConnectionError, OSError):
            pass
        finally:
            inbound.cancel()
            self._finish(p)
            self.flush()

    async def _to_pod(self, p: _Pair) -> None:
        w = p.writer
        assert w is not None
        with contextlib.suppress(ConnectionError, OSError):
            while (chunk := await p.inbox.get()) is not None:
                w.write(chunk)
                await w.drain()
                p.queued -= len(chunk)
                if p.queued <= _INBOX // 2:
                    p.room.set()
                self.session.consumed(p.data_id, len(chunk))
                self.flush()
            if w.can_write_eof():
                w.write_eof()

    async def _from_pod(self, p: _Pair, reader: asyncio.StreamReader) -> None:
        while not p.done:
            data = await reader.read(S.DATA_CHUNK)
            if not data:
                return
            while data and not p.done:
                n = self.session.send_data(p.data_id, data)
                data = data[n:]
                self.flush()
                if data:
                    self._window.clear()
                    await self._window.wait()
                await self._room.wait()
