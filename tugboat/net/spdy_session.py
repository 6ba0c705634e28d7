"""A sans-I/O SPDY/3.1 session: stream state, flow control, PING/GOAWAY, as events.

The caller feeds received bytes (`receive`) and gets events back; it calls `reply`,
`send_data`, `end_stream`, `reset`… and writes whatever `data_to_send()` returns. No sockets,
no tasks, no clocks — the asyncio drivers in the agent (and the tests, which play the client
side) own those, and this class stays unit-testable byte for byte.

Flow control (SPDY/3.1 §2.6.8): every stream and the session start with a 64 KiB window in each
direction. Received DATA is counted against ours and re-opened with WINDOW_UPDATE once the
application has `consumed()` half of it. Go's spdystream — kubectl's and the kubelet's SPDY
stack — neither sends WINDOW_UPDATE nor respects one, so with `flow_control="auto"` (the
default) our sends are only limited once the peer has shown it does flow control (sent a
WINDOW_UPDATE or an initial-window SETTINGS); otherwise a spdystream peer would stall after
64 KiB. Received data beyond our window is tolerated for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import spdy_frames as F

INITIAL_WINDOW = 64 * 1024
DATA_CHUNK = 32 * 1024


@dataclass(slots=True)
class StreamOpened:
    stream_id: int
    headers: F.Headers
    fin: bool = False


@dataclass(slots=True)
class StreamReplied:
    stream_id: int
    headers: F.Headers
    fin: bool = False


@dataclass(slots=True)
class DataReceived:
    stream_id: int
    data: bytes
    fin: bool = False  # the peer half-closed the stream after this data


@dataclass(slots=True)
class StreamReset:
    stream_id: int
    status: int


@dataclass(slots=True)
class WindowOpened:
    stream_id: int  # 0 = the session window


@dataclass(slots=True)
class PingAcked:
    ping_id: int


@dataclass(slots=True)
class GoAwayReceived:
    last_good_stream_id: int
    status: int


Event = StreamOpened | StreamReplied | DataReceived | StreamReset | WindowOpened | PingAcked | GoAwayReceived


@dataclass(slots=True)
class StreamState:
    stream_id: int
    headers: F.Headers = field(default_factory=dict)
    local_closed: bool = False
    remote_closed: bool = False
    send_window: int = INITIAL_WINDOW
    recv_window: int = INITIAL_WINDOW
    recv_unacked: int = 0


class SpdySession:
    def __init__(self, *, client: bool = False, flow_control: str = "auto", initial_window: int = INITIAL_WINDOW):
        assert flow_control in ("auto", "on", "off")
        self.client = client
        self.flow_control = flow_control
        self.peer_flow_control = flow_control == "on"
        self.initial_window = initial_window
        self.peer_initial_window = INITIAL_WINDOW
        self.streams: dict[int, StreamState] = {}
        self.session_send_window = INITIAL_WINDOW
        self.session_recv_window = initial_window
        self.session_recv_unacked = 0
        self.closed = False  # GOAWAY sent or received
        self._next_stream = 1 if client else 2
        self._next_ping = 1 if client else 2
        self._last_peer_stream = 0
        self._enc = F.FrameEncoder()
        self._dec = F.FrameDecoder()
        self._out: list[bytes] = []

    # ---- output ---------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def _send(self, frame: F.Frame) -> None:
        self._out.append(self._enc.encode(frame))

    # ---- commands -------------------------------------------------------------------------------
    def open_stream(self, headers: F.Headers, fin: bool = False) -> int:
        sid = self._next_stream
        self._next_stream += 2
        st = StreamState(sid, dict(headers), local_closed=fin, send_window=self.peer_initial_window,
                         recv_window=self.initial_window)
        self.streams[sid] = st
        self._send(F.SynStream(sid, dict(headers), F.FLAG_FIN if fin else 0))
        return sid

    def reply(self, stream_id: int, headers: F.Headers | None = None, fin: bool = False) -> None:
        self._send(F.SynReply(stream_id, dict(headers or {}), F.FLAG_FIN if fin else 0))
        if fin:
            self._close_local(stream_id)

    def sendable(self, stream_id: int) -> int:
        """How many DATA bytes may be sent on the stream now (flow control)."""
        st = self.streams.get(stream_id)
        if st is None or st.local_closed:
            return 0
        if not self.peer_flow_control:
            return 1 << 30
        return max(0, min(st.send_window, self.session_send_window))

    def send_data(self, stream_id: int, data: bytes, fin: bool = False) -> int:
        """Frame as much of `data` as the windows allow; returns the byte count taken. `fin`
        applies only when all of it was taken."""
        st = self.streams.get(stream_id)
        if st is None or st.local_closed:
            return 0
        n = min(len(data), self.sendable(stream_id))
        view = memoryview(data)
        for off in range(0, n, DATA_CHUNK):
            chunk = bytes(view[off:min(n, off + DATA_CHUNK)])
            last = off + DATA_CHUNK >= n
            self._send(F.DataFrame(stream_id, chunk, F.FLAG_FIN if (fin and last and n == len(data)) else 0))
        st.send_window -= n
        self.session_send_window -= n
        if fin and n == len(data):
            if n == 0:
                self._send(F.DataFrame(stream_id, b"", F.FLAG_FIN))
            self._close_local(stream_id)
        return n

    def end_stream(self, stream_id: int) -> None:
        """Half-close our side (an empty DATA frame with FIN, as spdystream's Close())."""
        st = self.streams.get(stream_id)
        if st is not None and not st.local_closed:
            self._send(F.DataFrame(stream_id, b"", F.FLAG_FIN))
            self._close_local(stream_id)

    def reset(self, stream_id: int, status: int = F.CANCEL) -> None:
        self._send(F.RstStream(stream_id, status))
        self.streams.pop(stream_id, None)

    def consumed(self, stream_id: int, n: int) -> None:
        """The application took `n` received bytes: re-open the windows when half is used."""
        self.session_recv_unacked += n
        if self.session_recv_unacked >= self.initial_window // 2:
            self._send(F.WindowUpdate(0, self.session_recv_unacked))
            self.session_recv_window += self.session_recv_unacked
            self.session_recv_unacked = 0
        st = self.streams.get(stream_id)
        if st is None or st.remote_closed:
            return
        st.recv_unacked += n
        if st.recv_unacked >= self.initial_window // 2:
            self._send(F.WindowUpdate(stream_id, st.recv_unacked))
            st.recv_window += st.recv_unacked
            st.recv_unacked = 0

    def ping(self) -> int:
        pid = self._next_ping
        self._next_ping += 2
        self._send(F.Ping(pid))
        return pid

    def goaway(self, status: int = F.GOAWAY_OK) -> None:
        if not self.closed:
            self._send(F.GoAway(self._last_peer_stream, status))
            self.closed = True

    def _close_local(self, sid: int) -> None:
        st = self.streams.get(sid)
        if st is not None:
            st.local_closed = True
            if st.remote_closed:
                del self.streams[sid]

    def _close_remote(self, st: StreamState) -> None:
        st.remote_closed = True
        if st.local_closed:
            self.streams.pop(st.stream_id, None)

    # ---- input ----------------------------------------------------------------------------------
    def receive(self, data: bytes) -> list[Event]:
        """Feed received bytes; raises SpdyProtocolError for a broken stream (send GOAWAY, close)."""
        events: list[Event] = []
        for frame in self._dec.feed(data):
            self._handle(frame, events)
        return events

    def _peer_id(self, sid: int) -> bool:
        return sid % 2 == (0 if self.client else 1)

    def _handle(self, f: F.Frame, ev: list[Event]) -> None:
        if isinstance(f, F.DataFrame):
            st = self.streams.get(f.stream_id)
            if st is None:
                self._send(F.RstStream(f.stream_id, F.INVALID_STREAM))
                return
            if st.remote_closed:
                self._send(F.RstStream(f.stream_id, F.STREAM_ALREADY_CLOSED))
                return
            st.recv_window -= len(f.data)
            self.session_recv_window -= len(f.data)
            if f.fin:
                self._close_remote(st)
            ev.append(DataReceived(f.stream_id, f.data, f.fin))
        elif isinstance(f, F.SynStream):
            sid = f.stream_id
            if sid == 0 or not self._peer_id(sid) or sid <= self._last_peer_stream:
                self._send(F.RstStream(sid, F.PROTOCOL_ERROR))
                return
            self._last_peer_stream = sid
            if self.closed:
                self._send(F.RstStream(sid, F.REFUSED_STREAM))
                return
            st = StreamState(sid, f.headers, send_window=self.peer_initial_window, recv_window=self.initial_window)
            st.local_closed = bool(f.flags & F.FLAG_UNIDIRECTIONAL)
            self.streams[sid] = st
            if f.fin:
                self._close_remote(st)
            ev.append(StreamOpened(sid, f.headers, f.fin))
        elif isinstance(f, F.SynReply):
            st = self.streams.get(f.stream_id)
            if st is None:
                return
            if f.fin:
                self._close_remote(st)
            ev.append(StreamReplied(f.stream_id, f.headers, f.fin))
        elif isinstance(f, F.RstStream):
            if self.streams.pop(f.stream_id, None) is not None:
                ev.append(StreamReset(f.stream_id, f.status))
        elif isinstance(f, F.WindowUpdate):
            if self.flow_control == "auto":
                self.peer_flow_control = True
            if f.stream_id == 0:
                self.session_send_window += f.delta
            else:
                st = self.streams.get(f.stream_id)
                if st is None:
                    return
                st.send_window += f.delta
            ev.append(WindowOpened(f.stream_id))
        elif isinstance(f, F.Settings):
            for _flags, sid, val in f.entries:
                if sid == F.SETTINGS_INITIAL_WINDOW_SIZE:
                    if self.flow_control == "auto":
                        self.peer_flow_control = True
                    delta = val - self.peer_initial_window
                    self.peer_initial_window = val
                    for st in self.streams.values():
                        st.send_window += delta
                    ev.append(WindowOpened(0))
        elif isinstance(f, F.Ping):
            if self._peer_id(f.ping_id):
                self._send(F.Ping(f.ping_id))  # echo the peer's ping
            else:
                ev.append(PingAcked(f.ping_id))
        elif isinstance(f, F.GoAway):
            self.closed = True
            ev.append(GoAwayReceived(f.last_good_stream_id, f.status))
        # HEADERS frames carry nothing port-forward uses: ignored
