"""Read a container's CRI log file the way the kubelet serves `kubectl logs`.

The runtime's shim writes one record per line, `<RFC3339Nano> stdout|stderr F|P <content>`
(P = a partial line, continued by the next record). The agent must turn that back into the
container's raw output and honour upstream's PodLogOptions: `tailLines` (last N lines),
`sinceTime`/`sinceSeconds` (records at or after a time), `timestamps` (each line prefixed with
its time, always with nine fraction digits as upstream prints it, and a space), `limitBytes`
(stop after N bytes), `follow` (keep reading while the container runs, across log rotation). Like upstream, only the current log file is
read (rotated files are not), partial records are joined into one line (a continuation gets no
second timestamp), and lines that do not parse are skipped.

`read_log(path, opts, running)` is an async generator of output chunks; `running()` says
whether the container still writes, so a follow ends once it exited and the file is drained.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

POLL_INTERVAL = 0.1  # seconds between looks at a followed file (the kubelet uses fsnotify + a 1 s check)
_READ = 64 * 1024


@dataclass(slots=True)
class LogRecord:
    time_ns: int
    stream: str  # "stdout" | "stderr"
    partial: bool
    content: bytes
    timestamp: bytes  # the raw RFC3339Nano text as the file has it


@dataclass
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    since_ns: int | None = None  # only records at or after this time (UNIX ns)
    timestamps: bool = False
    limit_bytes: int | None = None
    streams: frozenset[str] = frozenset({"stdout", "stderr"})


def parse_time_ns(text: str) -> int:
    """RFC 3339 (with up to nanosecond fraction, `Z` or an offset) to UNIX nanoseconds."""
    t = text.strip()
    frac_ns = 0
    main = t
    tz = ""
    if t.endswith(("Z", "z")):
        main, tz = t[:-1], "+00:00"
    else:
        for sign in ("+", "-"):
            i = t.rfind(sign)
            if i > 10:
                main, tz = t[:i], t[i:]
                break
    if "." in main:
        main, frac = main.split(".", 1)
        if not frac.isdigit():
            raise ValueError(f"bad fraction in {text!r}")
        frac_ns = int(frac[:9].ljust(9, "0"))
    d = dt.datetime.fromisoformat(main.replace("t", "T") + (tz or "+00:00"))
    return int(d.timestamp()) * 1_000_000_000 + frac_ns


def format_time_ns(ns: int) -> bytes:
    """UNIX nanoseconds as the kubelet prints `timestamps=true` (RFC3339NanoFixed: always nine
    fraction digits, UTC `Z`), whatever width the log file used (CRI writers trim zeros)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return f"{dt.datetime.fromtimestamp(secs, dt.UTC):%Y-%m-%dT%H:%M:%S}.{frac:09d}Z".encode()


def parse_record(line: bytes) -> LogRecord | None:
    """One CRI log line (without its newline); None when it is not in CRI format."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    if stream not in (b"stdout", b"stderr") or tag not in (b"F", b"P"):
        return None
    try:
        t = parse_time_ns(ts.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return LogRecord(t, stream.decode(), tag == b"P", parts[3] if len(parts) == 4 else b"", ts)


class _Formatter:
    """Turns records into output bytes, joining partial records and counting bytes."""

    def __init__(self, opts: LogOptions):
        self.opts = opts
        self.continuing: dict[str, bool] = {}
        self.left = opts.limit_bytes

    def format(self, rec: LogRecord) -> bytes:
        out = b""
        if self.opts.timestamps and not self.continuing.get(rec.stream):
            out = format_time_ns(rec.time_ns) + b" "
        out += rec.content if rec.partial else rec.content + b"\n"
        self.continuing[rec.stream] = rec.partial
        if self.left is not None:
            out = out[:self.left]
            self.left -= len(out)
        return out

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0


def _wanted(rec: LogRecord, opts: LogOptions) -> bool:
    return rec.stream in opts.streams and (opts.since_ns is None or rec.time_ns >= opts.since_ns)


def _tail(records: list[LogRecord], n: int) -> list[LogRecord]:
    """The records making up the last `n` lines (a line = partial records + their final one)."""
    if n <= 0:
        return []
    lines: deque[list[LogRecord]] = deque(maxlen=n)
    open_by_stream: dict[str, list[LogRecord]] = {}
    for rec in records:
        cur = open_by_stream.get(rec.stream)
        if cur is None:
            cur = []
            lines.append(cur)
            open_by_stream[rec.stream] = cur
        cur.append(rec)
        if not rec.partial:
            del open_by_stream[rec.stream]
    kept = {id(r) for line in lines for r in line}
    return [r for r in records if id(r) in kept]


class _Reader:
    """Splits a growing file into complete lines; remembers the inode to notice rotation."""

    def __init__(self, path: str):
        self.path = path
        self.f = open(path, "rb")  # noqa: SIM115 — closed in close()
        self.ino = os.fstat(self.f.fileno()).st_ino
        self.buf = b""

    def lines(self) -> list[bytes]:
        data = self.f.read()
        if not data:
            return []
        self.buf += data
        *complete, self.buf = self.buf.split(b"\n")
        return complete

    def rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # removed but not yet replaced: keep the old one until a new file appears
        return st.st_ino != self.ino or st.st_size < self.f.tell()

    def close(self) -> None:
        self.f.close()


async def read_log(path: str, opts: LogOptions,
                   running: Callable[[], Awaitable[bool]] | None = None) -> AsyncGenerator[bytes, None]:
    """Yield the container's output from its CRI log file as `opts` asks."""
    fmt = _Formatter(opts)
    try:
        reader = _Reader(path)
    except FileNotFoundError:
        if not opts.follow or running is None:
            return
        while not os.path.exists(path):  # the container has not written its first line yet
            if not await running():
                return
            await asyncio.sleep(POLL_INTERVAL)
        reader = _Reader(path)
    try:
        records = [r for r in map(parse_record, reader.lines()) if r is not None and _wanted(r, opts)]
        if opts.tail_lines is not None:
            records = _tail(records, opts.tail_lines)
        out = b"".join(fmt.format(r) for r in records if not fmt.exhausted)
        if out:
            yield out
        if not opts.follow or running is None:
            return
        while not fmt.exhausted:
            chunk = _drain(reader, opts, fmt)
            if chunk:
                yield chunk
                continue
            if reader.rotated():
                reader.close()
                reader = _Reader(path)
                continue
            if not await running():
                chunk = _drain(reader, opts, fmt)  # what it wrote just before it exited
                if chunk:
                    yield chunk
                return
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        reader.close()


def _drain(reader: _Reader, opts: LogOptions, fmt: _Formatter) -> bytes:
    out = []
    for line in reader.lines():
        rec = parse_record(line)
        if rec is not None and _wanted(rec, opts) and not fmt.exhausted:
            out.append(fmt.format(rec))
    return b"".join(out)
