"""Fixtures: one `backend` parametrised over every implementation, and a private etcd.

The etcd server is started once per test session on free 127.0.0.1 ports in a temp dir and
stopped by pid; each test gets its own key prefix in it, so tests do not see each other's keys
(revisions are shared, which the tests allow for by only comparing revisions they made).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tugboat.store.backend import Backend
from tugboat.store.etcd import EtcdBackend
from tugboat.store.memory import MemoryBackend
from tugboat.store.sqlite import SqliteBackend

ETCD_BIN = "/usr/bin/etcd"
needs_etcd = pytest.mark.skipif(not os.path.exists(ETCD_BIN), reason="etcd binary not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test process dies, so a killed run leaves no etcd."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EtcdServer:
    """One single-member etcd in a temp dir, listening only on loopback."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="tug-etcd-")
        self.client_port, self.peer_port = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.client_port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            ETCD_BIN, "--name", "t", "--data-dir", os.path.join(self.dir, "data"),
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"t={peer}", "--logger", "zap", "--log-level", "error",
        ]  # fmt: skip
        log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("etcd did not become healthy")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    if not os.path.exists(ETCD_BIN):
        pytest.skip("etcd binary not installed")
    srv = EtcdServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.cleanup()


BACKENDS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("etcd", marks=[pytest.mark.etcd, needs_etcd]),
]


@pytest.fixture
def make_backend(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[[str], Backend]:
    """kind → a new, unstarted backend (sqlite: in this test's tmp dir; etcd: own prefix)."""
    prefix = f"/t/{uuid.uuid4().hex[:8]}"

    def make(kind: str) -> Backend:
        if kind == "memory":
            return MemoryBackend()
        if kind == "sqlite":
            return SqliteBackend(str(tmp_path / "state.db"), compact_interval=None)
        srv: EtcdServer = request.getfixturevalue("etcd_server")
        return EtcdBackend([srv.endpoint], prefix=prefix, compact_interval=None)

    return make


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, make_backend: Callable[[str], Backend]) -> AsyncIterator[Backend]:
    b = make_backend(request.param)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
