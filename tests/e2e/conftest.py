"""End-to-end fixtures: a real `tug server` process, the real kubectl and the real Python client.

One server per test session (starting one costs about a second); every test works in its own
namespace so tests do not see each other's objects. The server is stopped by pid and its data
dir removed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TugServer:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    home: Path

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server; returns the completed process."""
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                    "KUBECONFIG": str(self.kubeconfig)}
        if env:
            full_env.update(env)
        p = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, timeout=timeout,
                           env=full_env)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def kubectl_popen(self, *args: str) -> subprocess.Popen[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.Popen([KUBECTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)


def start_server(extra: list[str] | None = None) -> TugServer:
    data_dir = Path(tempfile.mkdtemp(prefix="tug-e2e-"))
    home = data_dir / "home"
    home.mkdir()
    port = free_port()
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(data_dir / "data"),
         "--port", str(port), "--bind-address", "127.0.0.1", "--no-agent", *(extra or [])],
        stdout=log, stderr=subprocess.STDOUT,
    )
    srv = TugServer(data_dir / "data", port, proc, home)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tug server exited early:\n{(data_dir / 'server.log').read_text()}")
        if srv.kubeconfig.exists():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    pass
                p = srv.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
                if p.returncode == 0 and "ok" in p.stdout:
                    return srv
            except OSError:
                pass
        time.sleep(0.1)
    stop_server(srv)
    raise RuntimeError("tug server did not become ready in 30 s")


def stop_server(srv: TugServer) -> None:
    if srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
    shutil.rmtree(srv.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def tug() -> Iterator[TugServer]:
    srv = start_server()
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def ns(tug: TugServer) -> Iterator[str]:
    """A fresh namespace for one test."""
    name = "e2e-" + uuid.uuid4().hex[:8]
    tug.kubectl("create", "namespace", name)
    yield name
    tug.kubectl("delete", "namespace", name, "--wait=false", check=False)


def http_client(srv: TugServer):  # type: ignore[no-untyped-def]
    """An httpx client authenticated with the admin certificate from the kubeconfig."""
    import base64

    import httpx
    import yaml

    kc = yaml.safe_load(srv.kubeconfig.read_text())
    tls = srv.data_dir.parent / "client-tls"
    tls.mkdir(exist_ok=True)
    files = {}
    for name, b64 in (("ca.crt", kc["clusters"][0]["cluster"]["certificate-authority-data"]),
                      ("client.crt", kc["users"][0]["user"]["client-certificate-data"]),
                      ("client.key", kc["users"][0]["user"]["client-key-data"])):
        p = tls / name
        p.write_bytes(base64.b64decode(b64))
        files[name] = str(p)
    import ssl

    ctx = ssl.create_default_context(cafile=files["ca.crt"])
    ctx.load_cert_chain(files["client.crt"], files["client.key"])
    return httpx.Client(base_url=srv.url, verify=ctx, timeout=30)
