"""The CRI log reader behind `kubectl logs`: parsing, joining, tail, since, timestamps, limits, follow."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tugboat.node.logs import LogOptions, parse_record, parse_time_ns, read_log

T0 = "2024-05-01T10:00:00.000000001Z"
T1 = "2024-05-01T10:00:01.5Z"
T2 = "2024-05-01T10:00:02Z"


def write(path: Path, *lines: str) -> None:
    with open(path, "a") as f:
        for line in lines:
            f.write(line + "\n")


async def collect(path: Path, opts: LogOptions, running=None) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join([c async for c in read_log(str(path), opts, running)])


def test_parse_record_and_time() -> None:
    r = parse_record(b"2024-05-01T10:00:01.5Z stderr P hello world")
    assert r is not None and r.stream == "stderr" and r.partial and r.content == b"hello world"
    assert r.time_ns == parse_time_ns("2024-05-01T10:00:01.500000000Z")
    assert parse_record(b"2024-05-01T10:00:01Z stdout F ") .content == b""  # type: ignore[union-attr]
    assert parse_record(b"garbage line") is None
    assert parse_record(b"notatime stdout F x") is None
    # offsets and nanoseconds
    assert parse_time_ns("2024-05-01T12:00:00+02:00") == parse_time_ns("2024-05-01T10:00:00Z")
    assert parse_time_ns(T0) % 1_000_000_000 == 1


@pytest.fixture
def log(tmp_path: Path) -> Path:
    p = tmp_path / "0.log"
    write(p, f"{T0} stdout F one", f"{T0} stderr F err-one", "not a cri line",
          f"{T1} stdout P par", f"{T1} stdout P tial-", f"{T1} stdout F line", f"{T2} stdout F last")
    return p


async def test_whole_file_joins_partials_and_skips_garbage(log: Path) -> None:
    assert await collect(log, LogOptions()) == b"one\nerr-one\npartial-line\nlast\n"


async def test_timestamps_prefix_each_line_once(log: Path) -> None:
    out = await collect(log, LogOptions(timestamps=True, tail_lines=2))
    # as the kubelet prints them: nine fraction digits whatever the file has
    assert out == b"2024-05-01T10:00:01.500000000Z partial-line\n2024-05-01T10:00:02.000000000Z last\n"


async def test_tail_counts_whole_lines(log: Path) -> None:
    assert await collect(log, LogOptions(tail_lines=1)) == b"last\n"
    assert await collect(log, LogOptions(tail_lines=2)) == b"partial-line\nlast\n"
    assert await collect(log, LogOptions(tail_lines=0)) == b""
    assert await collect(log, LogOptions(tail_lines=100)) == b"one\nerr-one\npartial-line\nlast\n"


async def test_since_and_streams(log: Path) -> None:
    assert await collect(log, LogOptions(since_ns=parse_time_ns(T1))) == b"partial-line\nlast\n"
    assert await collect(log, LogOptions(streams=frozenset({"stderr"}))) == b"err-one\n"


async def test_limit_bytes_cuts_exactly(log: Path) -> None:
    assert await collect(log, LogOptions(limit_bytes=6)) == b"one\ner"


async def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert await collect(tmp_path / "nope.log", LogOptions()) == b""


async def test_follow_sees_new_lines_and_rotation_and_ends_when_container_exits(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write(path, f"{T0} stdout F first")
    alive = True

    async def running() -> bool:
        return alive

    got: list[bytes] = []
    done = asyncio.Event()

    async def reader() -> None:
        async for chunk in read_log(str(path), LogOptions(follow=True), running):
            got.append(chunk)
        done.set()

    task = asyncio.create_task(reader())

    async def wait_for(text: bytes) -> None:
        for _ in range(200):
            if text in b"".join(got):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{text!r} never arrived; got {b''.join(got)!r}")

    await wait_for(b"first\n")
    write(path, f"{T1} stdout F second")
    await wait_for(b"second\n")
    # rotation: the file is renamed away and a new one is written
    os.rename(path, str(path) + ".20240501-100002")
    write(path, f"{T2} stdout F third")
    await wait_for(b"third\n")
    assert not done.is_set()
    write(path, f"{T2} stderr F bye")
    alive = False
    await asyncio.wait_for(done.wait(), 5)
    assert b"".join(got) == b"first\nsecond\nthird\nbye\n"
    await task


async def test_follow_waits_for_the_file_to_appear(tmp_path: Path) -> None:
    path = tmp_path / "c" / "0.log"
    alive = True

    async def running() -> bool:
        return alive

    task = asyncio.create_task(collect(path, LogOptions(follow=True), running))
    await asyncio.sleep(0.15)
    path.parent.mkdir()
    write(path, f"{T0} stdout F hi")
    await asyncio.sleep(0.3)
    alive = False
    assert await asyncio.wait_for(task, 5) == b"hi\n"
