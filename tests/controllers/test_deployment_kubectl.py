"""End to end: the real kubectl drives a Deployment rollout, history and undo on `tug server`.

`tug server` runs the controller manager (with --no-agent, no node); the test plays the
kubelet by marking pods Ready through /status.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from tests.e2e.conftest import TugServer, start_server, stop_server
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, load_kubeconfig
from tugboat.util.clock import rfc3339

pytestmark = pytest.mark.e2e

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox:v1
"""


async def fake_kubelet(client: Client, ns: str) -> None:
    pods = default_scheme().get("", "v1", "pods")
    assert pods is not None
    import time
    while True:
        for p in (await client.list(pods, ns))["items"]:
            conds = (p.get("status") or {}).get("conditions") or []
            if p["metadata"].get("deletionTimestamp") or any(c["type"] == "Ready" and c["status"] == "True"
                                                            for c in conds):
                continue
            now = rfc3339(time.time())
            with contextlib.suppress(Exception):
                await client.patch(pods, p["metadata"]["name"], {"status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": now}]}}, ns, subresource="status")
        await asyncio.sleep(0.1)


async def kubectl(srv: TugServer, *args: str, input: str | None = None) -> str:
    p = await asyncio.to_thread(srv.kubectl, *args, input=input, timeout=90)
    return p.stdout


async def test_kubectl_rollout_status_history_undo() -> None:
    srv = await asyncio.to_thread(start_server)
    tasks: list[asyncio.Task[Any]] = []
    client = Client(load_kubeconfig(srv.kubeconfig))
    try:
        tasks.append(asyncio.create_task(fake_kubelet(client, "default")))
        await kubectl(srv, "apply", "-f", "-", input=MANIFEST)
        out = await kubectl(srv, "rollout", "status", "deploy/web", "--timeout=60s")
        assert 'deployment "web" successfully rolled out' in out

        await kubectl(srv, "set", "image", "deploy/web", "c=busybox:v2")
        out = await kubectl(srv, "rollout", "status", "deploy/web", "--timeout=60s")
        assert "successfully rolled out" in out

        hist = await kubectl(srv, "rollout", "history", "deploy/web")
        revs = [line.split()[0] for line in hist.splitlines()[2:] if line.strip()]
        assert revs == ["1", "2"], hist

        out = await kubectl(srv, "rollout", "undo", "deploy/web")
        assert "rolled back" in out
        await kubectl(srv, "rollout", "status", "deploy/web", "--timeout=60s")
        images = await kubectl(srv, "get", "pods", "-l", "app=web", "-o",
                               "jsonpath={range .items[*]}{.spec.containers[0].image}{'\\n'}{end}")
        assert sorted(images.split()) == ["busybox:v1", "busybox:v1"]
        hist = await kubectl(srv, "rollout", "history", "deploy/web")
        revs = [line.split()[0] for line in hist.splitlines()[2:] if line.strip()]
        assert revs == ["2", "3"], hist  # revision 1's ReplicaSet was reused as revision 3
        rs_names = (await kubectl(srv, "get", "rs", "-o", "name")).split()
        assert len(rs_names) == 2

        out = await kubectl(srv, "get", "deploy", "web")
        header, row = out.splitlines()[:2]
        assert header.split()[:4] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"]
        assert row.split()[:4] == ["web", "2/2", "2", "2"]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
        await asyncio.to_thread(stop_server, srv)
