"""SPDY/3 frames: parse and serialize, with zlib header-block compression.

`kubectl port-forward` (client-go over moby/spdystream) speaks SPDY/3.1 framing, tunnelled in
WebSocket binary messages or directly after an HTTP `Upgrade: SPDY/3.1`. This module is the
byte-level half: `FrameDecoder.feed(bytes)` yields whole frames however the bytes were split
(WebSocket message boundaries are meaningless), `FrameEncoder.encode(frame)` serializes one.

Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are a count-prefixed list of (name, value)
pairs, compressed with ONE zlib stream per direction for the whole connection, primed with the
SPDY/3 dictionary and sync-flushed after every block — so an encoder/decoder pair lives as
long as the connection and must see every header block in order. Multiple values of one
header are NUL-separated inside a value; names are lower case on the wire.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from .spdy_dictionary import HEADER_DICTIONARY

VERSION = 3
# control frame types
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 6, 7, 8, 9
FRAME_TOO_LARGE = 11
# GOAWAY status codes
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2
SETTINGS_INITIAL_WINDOW_SIZE = 7

MAX_FRAME_LENGTH = (1 << 24) - 1
MAX_HEADER_BLOCK = 256 * 1024  # decompressed; a header block bigger than this is an attack
_HDR = struct.Struct(">II")

Headers = dict[str, str]


class SpdyProtocolError(Exception):
    """The peer sent bytes that are not valid SPDY/3: the connection cannot continue."""


@dataclass(slots=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(slots=True)
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0
    associated_id: int = 0
    priority: int = 0
    slot: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(slots=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(slots=True)
class HeadersFrame:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(slots=True)
class Settings:
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (flags, id, value)
    flags: int = 0


@dataclass(slots=True)
class Ping:
    ping_id: int


@dataclass(slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(slots=True)
class WindowUpdate:
    stream_id: int  # 0 = the whole session (SPDY/3.1)
    delta: int


Frame = DataFrame | SynStream | SynReply | HeadersFrame | RstStream | Settings | Ping | GoAway | WindowUpdate


# ---- header blocks (uncompressed form) ---------------------------------------------------------

def pack_header_block(headers: Headers) -> bytes:
    parts = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        parts += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(parts)


def unpack_header_block(raw: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", raw, 0)
        pos, out = 4, {}
        for _ in range(count):
            (ln,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + ln]
            pos += 4 + ln
            (lv,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4:pos + 4 + lv]
            pos += 4 + lv
            if len(name) != ln or len(value) != lv or not name:
                raise SpdyProtocolError("truncated header block")
            out[name.decode("latin-1").lower()] = value.decode("utf-8", "replace")
    except struct.error as e:
        raise SpdyProtocolError(f"malformed header block: {e}") from None
    if pos != len(raw):
        raise SpdyProtocolError("trailing bytes in header block")
    return out


# ---- encoder ----------------------------------------------------------------------------------

def _control(ftype: int, flags: int, payload: bytes) -> bytes:
    return _HDR.pack(0x80000000 | (VERSION << 16) | ftype, (flags << 24) | len(payload)) + payload


class FrameEncoder:
    """Serializes frames for one direction of one connection (owns the compression stream)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=HEADER_DICTIONARY)

    def compress_headers(self, headers: Headers) -> bytes:
        return self._z.compress(pack_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, f: Frame) -> bytes:
        if isinstance(f, DataFrame):
            if len(f.data) > MAX_FRAME_LENGTH:
                raise ValueError("data frame too large")
            return _HDR.pack(f.stream_id & 0x7FFFFFFF, (f.flags << 24) | len(f.data)) + f.data
        if isinstance(f, SynStream):
            head = struct.pack(">IIBB", f.stream_id & 0x7FFFFFFF, f.associated_id & 0x7FFFFFFF,
                               (f.priority & 7) << 5, f.slot)
            return _control(SYN_STREAM, f.flags, head + self.compress_headers(f.headers))
        if isinstance(f, SynReply):
            return _control(SYN_REPLY, f.flags, struct.pack(">I", f.stream_id) + self.compress_headers(f.headers))
        if isinstance(f, HeadersFrame):
            return _control(HEADERS, f.flags, struct.pack(">I", f.stream_id) + self.compress_headers(f.headers))
        if isinstance(f, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", f.stream_id, f.status))
        if isinstance(f, Settings):
            body = struct.pack(">I", len(f.entries)) + b"".join(
                struct.pack(">II", (fl << 24) | sid, val) for fl, sid, val in f.entries)
            return _control(SETTINGS, f.flags, body)
        if isinstance(f, Ping):
            return _control(PING, 0, struct.pack(">I", f.ping_id))
        if isinstance(f, GoAway):
            return _control(GOAWAY, 0, struct.pack(">II", f.last_good_stream_id, f.status))
        if isinstance(f, WindowUpdate):
            return _control(WINDOW_UPDATE, 0, struct.pack(">II", f.stream_id, f.delta & 0x7FFFFFFF))
        raise TypeError(f"not a SPDY frame: {f!r}")


# ---- decoder ----------------------------------------------------------------------------------

class FrameDecoder:
    """Incremental parser for one direction of one connection (owns the decompression stream)."""

    def __init__(self, max_frame: int = MAX_FRAME_LENGTH) -> None:
        self._z = zlib.decompressobj(15, zdict=HEADER_DICTIONARY)
        self._buf = bytearray()
        self._max = max_frame

    def decompress_headers(self, block: bytes) -> Headers:
        try:
            raw = self._z.decompress(block, MAX_HEADER_BLOCK + 1)
        except zlib.error as e:
            raise SpdyProtocolError(f"bad header compression: {e}") from None
        if len(raw) > MAX_HEADER_BLOCK or self._z.unconsumed_tail:
            raise SpdyProtocolError("header block too large")
        return unpack_header_block(raw)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 8:
            w1, w2 = _HDR.unpack_from(buf, pos)
            length = w2 & 0xFFFFFF
            if length > self._max:
                raise SpdyProtocolError(f"frame of {length} bytes exceeds the limit")
            if len(buf) - pos < 8 + length:
                break
            payload = bytes(buf[pos + 8:pos + 8 + length])
            pos += 8 + length
            flags = w2 >> 24
            if w1 & 0x80000000:
                frame = self._control(w1 >> 16 & 0x7FFF, w1 & 0xFFFF, flags, payload)
                if frame is not None:
                    out.append(frame)
            else:
                out.append(DataFrame(w1 & 0x7FFFFFFF, payload, flags))
        del buf[:pos]
        return out

    def _control(self, version: int, ftype: int, flags: int, p: bytes) -> Frame | None:
        if version != VERSION:
            raise SpdyProtocolError(f"unsupported SPDY version {version}")
        try:
            if ftype == SYN_STREAM:
                sid, assoc, pri, slot = struct.unpack_from(">IIBB", p, 0)
                return SynStream(sid & 0x7FFFFFFF, self.decompress_headers(p[10:]), flags,
                                 assoc & 0x7FFFFFFF, pri >> 5, slot)
            if ftype in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", p, 0)
                hdrs = self.decompress_headers(p[4:])
                cls = SynReply if ftype == SYN_REPLY else HeadersFrame
                return cls(sid & 0x7FFFFFFF, hdrs, flags)
            if ftype == RST_STREAM:
                sid, status = struct.unpack(">II", p)
                return RstStream(sid & 0x7FFFFFFF, status)
            if ftype == SETTINGS:
                (n,) = struct.unpack_from(">I", p, 0)
                if len(p) != 4 + 8 * n:
                    raise SpdyProtocolError("bad SETTINGS length")
                entries = []
                for i in range(n):
                    fid, val = struct.unpack_from(">II", p, 4 + 8 * i)
                    entries.append((fid >> 24, fid & 0xFFFFFF, val))
                return Settings(entries, flags)
            if ftype == PING:
                return Ping(struct.unpack(">I", p)[0])
            if ftype == GOAWAY:
                last, status = struct.unpack(">II", p[:8]) if len(p) >= 8 else (struct.unpack(">I", p)[0], 0)
                return GoAway(last & 0x7FFFFFFF, status)
            if ftype == WINDOW_UPDATE:
                sid, delta = struct.unpack(">II", p)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error as e:
            raise SpdyProtocolError(f"malformed control frame type {ftype}: {e}") from None
        return None  # unknown control frame types are ignored (SPDY/3 §2.2.1)
