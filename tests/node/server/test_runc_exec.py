"""RuncRuntime.exec_stream against real runc and a busybox container (as root): pipes with
stdin, exit codes, and a terminal (runc exec -t under our pty) that follows resizes."""
# ruff: noqa: F811  (pytest fixtures imported from test_runc_env are redefined as arguments)

from __future__ import annotations

import asyncio

from tests.node.runtime.test_runc_env import Env, busybox_image, env, needs_root_runc  # noqa: F401
from tugboat.node.runtime.base import ExecStream

pytestmark = needs_root_runc


async def drain(proc: ExecStream, until: bytes = b"") -> dict[int, bytes]:
    out: dict[int, bytes] = {1: b"", 2: b""}
    while True:
        ch, data = await asyncio.wait_for(proc.read(), 10)
        if ch == 0:
            return out
        out[ch] += data
        if until and until in out[1]:
            return out


async def test_exec_stream_pipes_stdin_and_exit_code(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sleep", "1000"))
    proc = await env.rt.exec_stream(cid, ["sh", "-c", "cat; echo err >&2; exit 4"], tty=False, stdin=True)
    await proc.write(b"hello-stdin\n")
    await proc.close_stdin()
    out = await drain(proc)
    assert out == {1: b"hello-stdin\n", 2: b"err\n"}
    assert await asyncio.wait_for(proc.wait(), 10) == 4


async def test_exec_stream_tty_has_a_terminal_that_resizes(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sleep", "1000"))
    proc = await env.rt.exec_stream(cid, ["sh"], tty=True, stdin=True)
    proc.resize(100, 30)
    await asyncio.sleep(0.2)
    await proc.write(b"stty size; tty; exit 5\n")
    out = await drain(proc)
    assert b"30 100" in out[1] and b"/dev/pts/" in out[1] and out[2] == b""
    assert await asyncio.wait_for(proc.wait(), 10) == 5


async def test_kill_ends_a_running_exec(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sleep", "1000"))
    proc = await env.rt.exec_stream(cid, ["sh", "-c", "echo started; sleep 300"], tty=False, stdin=False)
    assert (await drain(proc, b"started"))[1] == b"started\n"
    await asyncio.wait_for(proc.kill(), 10)
    ps = await env.rt.exec_sync(cid, ["ps", "-o", "args"], 10)
    assert b"sleep 300" not in ps.stdout
