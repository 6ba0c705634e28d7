"""A container's own stdin (stdin / stdinOnce / tty) through its shim, with both shims (C and Python)."""
# ruff: noqa: F811  (pytest fixtures imported from test_runc_env are redefined as arguments)

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.node.runtime.test_runc_env import Env, busybox_image, env, needs_root_runc, wait_for  # noqa: F401
from tugboat.node.runtime.shim_attach import ShimAttach

pytestmark = needs_root_runc
SRC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tugboat", "node", "runtime", "shim", "tugshim.c")


@pytest.fixture(scope="session")
def c_shim(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the C shim cannot be built")
    out = str(tmp_path_factory.mktemp("shim") / "tug-shim")
    subprocess.run(["gcc", "-Os", "-static", "-Wall", "-Werror", "-o", out, SRC], check=True)
    return out


@pytest.fixture(params=["c", "python"])
def shim_env(request: pytest.FixtureRequest, env: Env) -> Env:
    env.rt.shim = request.getfixturevalue("c_shim") if request.param == "c" else ""
    return env


def _content(env: Env, name: str) -> list[str]:
    return [m.group(1) for line in env.log(name) if (m := re.match(r"^\S+ stdout [FP] (.*)$", line))]


async def _attach(env: Env, cid: str) -> ShimAttach:
    conn = await env.rt.attach_stdin(cid)
    assert conn is not None
    return conn


async def test_stdin_once_container_reads_the_first_attach_and_sees_eof_when_it_closes(shim_env: Env) -> None:
    env = shim_env
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sh", "-c", "cat; echo done", stdin=True, stdin_once=True))
    conn = await _attach(env, cid)
    await conn.write(b"hello\n" + b"x" * 100_000 + b"\n")  # more than a pipe holds: the shim must not block
    await conn.close_stdin()
    await conn.close()
    st = await env.wait_exit(cid)
    assert (st.exit_code, _content(env, "c")) == (0, ["hello", "x" * 16384, *["x" * 16384] * 5, "x" * 1696, "done"])
    assert await env.rt.attach_stdin(cid) is None  # nothing to attach to once it exited


async def test_stdin_stays_open_across_attach_sessions_without_stdin_once(shim_env: Env) -> None:
    env = shim_env
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "cat", stdin=True))
    for word in (b"one\n", b"two\n"):
        conn = await _attach(env, cid)
        await conn.write(word)
        await conn.close_stdin()  # a client's EOF is its own: the container's stdin stays open
        await conn.close()
        await wait_for(lambda: word.decode().strip() in _content(env, "c"), 10)  # noqa: B023 (awaited right here)
    st = await env.rt.container_status(cid)
    assert st is not None and st.state == "running"


async def test_stdin_once_closes_when_the_first_client_just_leaves(shim_env: Env) -> None:
    env = shim_env
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "cat", stdin=True, stdin_once=True))
    conn = await _attach(env, cid)
    await conn.write(b"bye\n")
    await conn.close()
    st = await env.wait_exit(cid)
    assert (st.exit_code, _content(env, "c")) == (0, ["bye"])


async def test_a_container_without_stdin_has_nothing_to_attach(shim_env: Env) -> None:
    env = shim_env
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "cat"))
    st = await env.wait_exit(cid)  # stdin is /dev/null: cat ends at once
    assert st.exit_code == 0 and await env.rt.attach_stdin(cid) is None


async def test_tty_container_gets_a_terminal_its_size_and_typed_input(shim_env: Env) -> None:
    env = shim_env
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sh", stdin=True, tty=True))
    conn = await _attach(env, cid)
    await conn.resize(123, 45)
    await conn.write(b"tty -s && echo is-a-tty; stty size; exit 7\n")
    st = await env.wait_exit(cid)
    out = [line.rstrip("\r") for line in _content(env, "c")]
    assert st.exit_code == 7
    assert "is-a-tty" in out and "45 123" in out, out
    await conn.close()


async def test_the_shim_reopens_its_log_after_rotation(shim_env: Env) -> None:
    env = shim_env
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "cat", stdin=True))
    conn = await _attach(env, cid)
    await conn.write(b"before\n")
    await wait_for(lambda: _content(env, "c") == ["before"], 10)
    path = os.path.join(env.tmp, "logs", "c", "0.log")
    os.rename(path, path + ".1")  # the agent's rotation: rename, then SIGUSR1
    env.rt.reopen_container_log(cid)
    await conn.write(b"after\n")  # the next record goes to a new file at the old path
    await wait_for(lambda: _content(env, "c") == ["after"], 10)
    await conn.close()
