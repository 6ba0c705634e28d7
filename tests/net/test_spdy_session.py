"""SPDY/3.1 session: streams, replies, flow control (both the strict and the spdystream peer), PING, GOAWAY."""

from __future__ import annotations

from tugboat.net import spdy_frames as F
from tugboat.net import spdy_session as S


def _pair(**server_kw: object) -> tuple[S.SpdySession, S.SpdySession]:
    return S.SpdySession(client=True), S.SpdySession(**server_kw)  # type: ignore[arg-type]


def _xfer(a: S.SpdySession, b: S.SpdySession) -> list[S.Event]:
    return b.receive(a.data_to_send())


def test_open_reply_data_and_half_close_both_ways() -> None:
    c, s = _pair()
    sid = c.open_stream({"streamtype": "data", "port": "80"})
    assert sid == 1 and c.open_stream({"x": "y"}) == 3
    ev = _xfer(c, s)
    assert ev == [S.StreamOpened(1, {"streamtype": "data", "port": "80"}), S.StreamOpened(3, {"x": "y"})]
    s.reply(1)
    assert _xfer(s, c) == [S.StreamReplied(1, {})]
    c.send_data(1, b"abc", fin=True)
    assert _xfer(c, s) == [S.DataReceived(1, b"abc", True)]
    assert s.streams[1].remote_closed and not s.streams[1].local_closed
    s.send_data(1, b"xyz")
    s.end_stream(1)
    assert _xfer(s, c) == [S.DataReceived(1, b"xyz"), S.DataReceived(1, b"", True)]
    assert 1 not in s.streams and 1 not in c.streams  # fully closed on both sides: forgotten


def test_peer_stream_ids_must_be_new_and_of_the_peer_parity() -> None:
    c, s = _pair()
    enc = F.FrameEncoder()
    s.receive(enc.encode(F.SynStream(5, {})))
    s.receive(enc.encode(F.SynStream(3, {})))  # goes backwards
    s.receive(enc.encode(F.SynStream(6, {})))  # even id from a client
    rst = F.FrameDecoder().feed(s.data_to_send())
    assert rst == [F.RstStream(3, F.PROTOCOL_ERROR), F.RstStream(6, F.PROTOCOL_ERROR)]
    assert list(s.streams) == [5]


def test_data_on_unknown_or_closed_stream_is_reset() -> None:
    c, s = _pair()
    enc = F.FrameEncoder()
    s.receive(enc.encode(F.DataFrame(9, b"x")))
    s.receive(enc.encode(F.SynStream(1, {}, F.FLAG_FIN)))
    s.reply(1)
    s.receive(enc.encode(F.DataFrame(1, b"late")))
    out = [f for f in F.FrameDecoder().feed(s.data_to_send()) if isinstance(f, F.RstStream)]
    assert out == [F.RstStream(9, F.INVALID_STREAM), F.RstStream(1, F.STREAM_ALREADY_CLOSED)]


def test_receiver_reopens_windows_after_half_is_consumed() -> None:
    c, s = _pair()
    c.open_stream({})
    _xfer(c, s)
    c.send_data(1, b"x" * 40000)
    _xfer(c, s)
    s.consumed(1, 20000)
    assert s.data_to_send() == b""  # below half the 64 KiB window: nothing yet
    s.consumed(1, 20000)
    updates = F.FrameDecoder().feed(s.data_to_send())
    assert updates == [F.WindowUpdate(0, 40000), F.WindowUpdate(1, 40000)]


def test_sender_honours_a_peer_that_does_flow_control() -> None:
    c, s = _pair()
    sid = c.open_stream({})
    _xfer(c, s)
    # before the peer showed flow control, "auto" does not limit (spdystream never updates windows)
    assert c.sendable(sid) > S.INITIAL_WINDOW
    assert c.send_data(sid, b"x" * 100_000) == 100_000
    # the server announces a 1000-byte initial window: from now on the client is limited
    enc = F.FrameEncoder()
    assert c.receive(enc.encode(F.Settings([(0, F.SETTINGS_INITIAL_WINDOW_SIZE, 1000)]))) == [S.WindowOpened(0)]
    assert c.sendable(sid) == 0  # 100 000 already sent against a window of 1000
    assert c.send_data(sid, b"more") == 0
    assert c.receive(enc.encode(F.WindowUpdate(sid, 200_000))) == [S.WindowOpened(sid)]
    assert c.sendable(sid) == 0  # the session window (65 536 - 100 000) still blocks
    c.receive(enc.encode(F.WindowUpdate(0, 200_000)))
    assert c.sendable(sid) == 1000 - 100_000 + 200_000
    n = c.send_data(sid, b"y" * 150_000, fin=True)
    assert n == 101_000
    assert sid in c.streams and not c.streams[sid].local_closed  # FIN only goes with the last byte


def test_strict_flow_control_limits_from_the_start() -> None:
    c = S.SpdySession(client=True, flow_control="on")
    sid = c.open_stream({})
    assert c.send_data(sid, b"z" * 100_000) == S.INITIAL_WINDOW
    # the session window (stream 0) limits too
    c.receive(F.FrameEncoder().encode(F.WindowUpdate(sid, 10_000)))
    assert c.sendable(sid) == 0


def test_pings_are_echoed_and_our_pings_acknowledged() -> None:
    c, s = _pair()
    pid = c.ping()
    assert pid % 2 == 1
    assert _xfer(c, s) == []  # the server echoes a client ping…
    assert _xfer(s, c) == [S.PingAcked(pid)]  # …which the client sees as the answer


def test_goaway_refuses_new_streams() -> None:
    c, s = _pair()
    c.open_stream({})
    _xfer(c, s)
    s.goaway()
    assert _xfer(s, c) == [S.GoAwayReceived(1, F.GOAWAY_OK)]
    c.open_stream({})
    assert _xfer(c, s) == []
    assert F.FrameDecoder().feed(s.data_to_send()) == [F.RstStream(3, F.REFUSED_STREAM)]


def test_reset_forgets_the_stream_on_both_sides() -> None:
    c, s = _pair()
    sid = c.open_stream({})
    _xfer(c, s)
    s.reset(sid)
    assert _xfer(s, c) == [S.StreamReset(sid, F.CANCEL)]
    assert not c.streams and not s.streams
    assert c.send_data(sid, b"x") == 0
