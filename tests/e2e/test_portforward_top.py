"""The real kubectl and Python client against a real `tug server`: `kubectl port-forward` (WebSocket
and the SPDY fallback), the Python client's portforward(), and `kubectl top nodes|pods`.

The node is a simulated NodeAgent run in a background thread with its real HTTPS agent server
(client CA = the server's CA), so the API server → agent hop is the production one. Its pod's
`sim.tugboat.dev/portforward-to` annotation points at an echo server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import TugServer

pytestmark = pytest.mark.e2e


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class SimNode:
    """A simulated node with its agent server, on its own event loop in a thread."""

    def __init__(self, tug: TugServer):
        self.tug = tug
        self.name = "pf-" + uuid.uuid4().hex[:6]
        self.tmp = tempfile.mkdtemp(prefix="tug-pf-")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.echo_port = 0
        self._objs: dict[str, Any] = {}

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _start(self) -> None:
        from tugboat.client import Client, load_kubeconfig
        from tugboat.client.clock import RealClock
        from tugboat.node.agent import NodeAgent
        from tugboat.node.runtime.simulated import SimulatedRuntime
        from tugboat.node.server import AgentServer
        from tugboat.node.server.auth import ensure_serving_cert, server_ssl_context

        echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
        self.echo_port = echo.sockets[0].getsockname()[1]
        client = Client(load_kubeconfig(self.tug.kubeconfig))
        rt = SimulatedRuntime(RealClock(), node_name=self.name)
        agent = NodeAgent(client, rt, node_name=self.name, data_dir=f"{self.tmp}/agent", host_ip="127.0.0.1")
        crt, key = ensure_serving_cert(f"{self.tmp}/pki", self.name, ["127.0.0.1"])
        ssl_ctx = server_ssl_context(crt, key, client_ca_file=str(self.tug.data_dir / "tls" / "ca.crt"))
        agent.add_service(AgentServer(agent, ssl_context=ssl_ctx, host="127.0.0.1", port=0))
        await agent.start()
        self._objs = {"echo": echo, "client": client, "rt": rt, "agent": agent}

    async def _stop(self) -> None:
        o = self._objs
        if "agent" in o:
            await o["agent"].stop()
            await o["rt"].close()
            await o["client"].close()
            o["echo"].close()


@pytest.fixture(scope="module")
def node(tug: TugServer) -> Iterator[SimNode]:
    n = SimNode(tug)
    n.start()
    try:
        yield n
    finally:
        n.stop()
        tug.kubectl("delete", "node", n.name, "--wait=false", check=False)


def _pod_yaml(name: str, node: str, annotations: dict[str, str]) -> str:
    ann = "".join(f"\n    {k}: \"{v}\"" for k, v in annotations.items())
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  annotations:{ann}
spec:
  nodeName: {node}
  containers:
  - name: app
    image: busybox:1.36
    resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
"""


@pytest.fixture
def web(tug: TugServer, node: SimNode, ns: str) -> str:
    ann = {"sim.tugboat.dev/portforward-to": f"127.0.0.1:{node.echo_port}",
           "sim.tugboat.dev/cpu-millicores": "250", "sim.tugboat.dev/memory-bytes": str(48 * 1024 * 1024)}
    tug.kubectl("apply", "-n", ns, "-f", "-", input=_pod_yaml("web", node.name, ann))
    tug.kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Running", "pod/web", "--timeout=30s")
    return ns


def _forward(tug: TugServer, ns: str, env: dict[str, str]) -> None:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tug.home),
                "KUBECONFIG": str(tug.kubeconfig), **env}
    import subprocess
    proc = subprocess.Popen(["kubectl", "port-forward", "-n", ns, "pod/web", ":80", "--address", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    try:
        assert proc.stdout is not None
        r, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if r else ""
        m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80", line)
        assert m, f"kubectl port-forward printed {line!r}"
        for i in range(2):  # two connections over the same forwarding session
            with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as s:
                msg = f"hello {i} ".encode() * 5000
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = s.recv(65536)
                    assert chunk, "connection closed early"
                    got += chunk
                assert got == msg
        assert proc.poll() is None, "kubectl port-forward exited"
    finally:
        proc.terminate()
        proc.wait(10)


def test_kubectl_port_forward_over_websocket(tug: TugServer, web: str) -> None:
    _forward(tug, web, {})


def test_kubectl_port_forward_spdy_fallback(tug: TugServer, web: str) -> None:
    _forward(tug, web, {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"})


def test_python_client_portforward(tug: TugServer, web: str) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward

    api = client.CoreV1Api(config.new_client_from_config(str(tug.kubeconfig)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", web, ports="80")
    s = pf.socket(80)
    s.settimeout(10)
    s.sendall(b"from python")
    assert s.recv(100) == b"from python"
    s.close()
    assert pf.error(80) is None


def test_kubectl_top_nodes_and_pods(tug: TugServer, node: SimNode, web: str) -> None:
    nodes = tug.kubectl("top", "node", node.name, "--no-headers").stdout.split()
    # simulated node: 50m + 256Mi base, plus 250m + 48Mi for each `web` pod on it. Earlier tests'
    # pods may still be terminating there (namespaces deleted without waiting), so the node sum
    # is checked as base + k pods with k >= 1, not as exactly one pod.
    assert nodes[0] == node.name
    cpu, mem = int(nodes[1].removesuffix("m")), int(nodes[3].removesuffix("Mi"))
    k = (cpu - 50) // 250
    assert k >= 1 and cpu == 50 + 250 * k and mem == 256 + 48 * k, nodes
    pods = tug.kubectl("top", "pods", "-n", web, "--containers", "--no-headers").stdout.split()
    assert pods == ["web", "app", "250m", "48Mi"]
    raw = tug.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{web}/pods/web").stdout
    assert '"kind":"PodMetrics"' in raw and '"window":"15s"' in raw
    missing = tug.kubectl("top", "pod", "nope", "-n", web, check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
