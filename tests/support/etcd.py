"""A three-member etcd cluster on loopback for HA tests (Debian's etcd-server).

    with etcd_cluster(3) as cluster:
        url = cluster.datastore_url          # etcd://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
        cluster.kill(0)                      # SIGKILL one member (quorum stays with the other two)

Members listen only on 127.0.0.1 (free ports), keep their data in one temp dir, get SIGTERM if
the test process dies (PDEATHSIG), and are stopped by pid and the dir removed on exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

ETCD_BIN = "/usr/bin/etcd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


@dataclass
class EtcdCluster:
    dir: str
    members: list[Member] = field(default_factory=list)

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    @property
    def datastore_url(self) -> str:
        return "etcd://" + ",".join(f"127.0.0.1:{m.client_port}" for m in self.members)

    def start_member(self, i: int) -> None:
        m = self.members[i]
        initial = ",".join(f"{x.name}={x.peer_url}" for x in self.members)
        args = [ETCD_BIN, "--name", m.name, "--data-dir", os.path.join(self.dir, m.name),
                "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", os.path.basename(self.dir),
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--logger", "zap", "--log-level", "error"]
        log = open(os.path.join(self.dir, f"{m.name}.log"), "ab")
        m.proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=_die_with_parent)
        log.close()

    def healthy(self, i: int) -> bool:
        try:
            with urllib.request.urlopen(self.members[i].client_url + "/health", timeout=1) as r:
                return b'"true"' in r.read()
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 30.0, members: list[int] | None = None) -> None:
        want = members if members is not None else list(range(len(self.members)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthy(i) for i in want):
                return
            time.sleep(0.1)
        raise RuntimeError(f"etcd members {want} not healthy in {timeout}s")

    def kill(self, i: int) -> None:
        """SIGKILL one member (a crash, not a clean leave)."""
        m = self.members[i]
        if m.proc is not None and m.proc.poll() is None:
            os.kill(m.proc.pid, signal.SIGKILL)
            m.proc.wait()
        m.proc = None

    def stop(self) -> None:
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                os.kill(m.proc.pid, signal.SIGTERM)
        for m in self.members:
            if m.proc is None:
                continue
            try:
                m.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(m.proc.pid, signal.SIGKILL)
                m.proc.wait()
            m.proc = None


@contextlib.contextmanager
def etcd_cluster(size: int = 3) -> Iterator[EtcdCluster]:
    d = tempfile.mkdtemp(prefix="tug-etcd3-")
    cluster = EtcdCluster(d, [Member(f"m{i}", _free_port(), _free_port()) for i in range(size)])
    try:
        for i in range(size):
            cluster.start_member(i)
        cluster.wait_healthy()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(d, ignore_errors=True)
