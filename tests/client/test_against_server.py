"""One end-to-end check: an informer and the REST client against a real `tug server` process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.fakeserver import rt_of
from tugboat.client.config import load_kubeconfig
from tugboat.client.errors import ApiStatusError, is_conflict
from tugboat.client.informer import SharedInformer
from tugboat.client.rest import Client

CM, NSR = rt_of("", "v1", "ConfigMap"), rt_of("", "v1", "Namespace")
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Path]:
    port = _free_port()
    data = tmp_path / "data"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(data), "--port", str(port),
         "--bind-address", "127.0.0.1", "--no-agent"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"tug server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            if b"tug: ready" in (tmp_path / "server.log").read_bytes():
                break
            if time.monotonic() > deadline:
                pytest.fail("tug server did not become ready in 60 s")
            time.sleep(0.1)
        yield data / "kubeconfig.yaml"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


async def test_informer_against_real_server(server: Path) -> None:
    c = Client(load_kubeconfig(server), component="client-it")
    ns = "client-it"
    inf = SharedInformer(c, CM, namespace=ns)
    seen: list[tuple[str, str]] = []
    inf.add_event_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                          on_update=lambda a, b: seen.append(("update", b["metadata"]["name"])),
                          on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    try:
        await c.create(NSR, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        first = await c.create(CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "a", "namespace": ns}, "data": {"k": "1"}})
        inf.start()
        assert await inf.wait_for_sync(10)
        assert inf.lister.get("a", ns) is not None
        await c.create(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": ns}})
        await c.patch(CM, "a", {"data": {"k": "2"}}, ns)
        with pytest.raises(ApiStatusError) as ei:
            await c.update(CM, first)  # stale resourceVersion
        assert is_conflict(ei.value)
        await c.delete(CM, "b", ns)
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while len(seen) < 4 and loop.time() < end:
            await asyncio.sleep(0.05)
        assert seen == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b")]
        assert [o["metadata"]["name"] for o in inf.lister.list(ns)] == ["a"]
        assert inf.lister.get("a", ns)["data"] == {"k": "2"}  # type: ignore[index]
        page = await c.list(CM, ns, limit=1)
        assert len(page["items"]) == 1
    finally:
        await inf.stop()
        await c.close()
