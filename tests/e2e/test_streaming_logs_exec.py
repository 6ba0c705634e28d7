"""`kubectl logs`, `logs -f`, `exec` (exit codes, stdin) and the Python client's exec stream
against a real `tug server`, with a simulated node agent (in a thread of this process) serving
its HTTPS agent server on 127.0.0.1 — the API server proxies to it with its kubelet-client
certificate, the agent checks that certificate against the cluster CA."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tugboat.client import Client, load_kubeconfig
from tugboat.client.clock import RealClock
from tugboat.node.agent import NodeAgent
from tugboat.node.runtime.simulated import SimulatedRuntime
from tugboat.node.server import AgentServer
from tugboat.node.server.auth import ssl_context_for_agent

from .conftest import TugServer

pytestmark = pytest.mark.e2e


class AgentThread:
    """A simulated NodeAgent + its server on their own event loop."""

    def __init__(self, kubeconfig: str, node: str):
        self.node = node
        self.tmp = tempfile.TemporaryDirectory(prefix="tug-stream-agent-")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.agent: NodeAgent = self.call(self._start(kubeconfig))

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, kubeconfig: str) -> NodeAgent:
        self.client = Client(load_kubeconfig(kubeconfig))
        self.runtime = SimulatedRuntime(RealClock(), node_name=self.node)
        agent = NodeAgent(self.client, self.runtime, node_name=self.node, data_dir=self.tmp.name,
                          host_ip="127.0.0.1")
        ctx = ssl_context_for_agent(self.client.config, self.tmp.name, self.node, ["127.0.0.1"])
        agent.add_service(AgentServer(agent, ssl_context=ctx, host="127.0.0.1", port=0))
        await agent.start()
        return agent

    async def _stop(self) -> None:
        await self.agent.stop()
        await self.runtime.close()
        await self.client.close()

    def stop(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.tmp.cleanup()


@pytest.fixture(scope="module")
def agent(tug: TugServer) -> Iterator[AgentThread]:
    a = AgentThread(str(tug.kubeconfig), "stream-" + uuid.uuid4().hex[:6])
    try:
        yield a
    finally:
        a.stop()
        tug.kubectl("delete", "node", a.node, "--wait=false", check=False)


def run_pod(tug: TugServer, ns: str, agent: AgentThread, name: str) -> dict[str, Any]:
    manifest = (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\n"
                f"spec: {{nodeName: {agent.node}, containers: [{{name: app, image: busybox}}]}}\n")
    tug.kubectl("apply", "-f", "-", input=manifest)
    tug.kubectl("wait", "-n", ns, f"pod/{name}", "--for=jsonpath={.status.phase}=Running", "--timeout=30s")
    rec = next(r for r in agent.agent.records.values() if r.pod["metadata"]["name"] == name)
    return rec.pod


def append_log(agent: AgentThread, pod: dict[str, Any], *lines: str) -> None:
    path = os.path.join(agent.agent.log_dir(pod), "app", "0.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        for line in lines:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%S.000000001Z", time.gmtime()) + f" stdout F {line}\n")


def test_kubectl_logs_and_follow(tug: TugServer, ns: str, agent: AgentThread) -> None:
    pod = run_pod(tug, ns, agent, "logs")
    append_log(agent, pod, "first", "second")
    assert tug.kubectl("logs", "-n", ns, "logs").stdout == "first\nsecond\n"
    assert tug.kubectl("logs", "-n", ns, "logs", "--tail=1").stdout == "second\n"
    follow = tug.kubectl_popen("logs", "-f", "-n", ns, "logs")
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "first\n"
        assert follow.stdout.readline() == "second\n"
        append_log(agent, pod, "third")
        assert follow.stdout.readline() == "third\n"
        # the container ends: kubectl logs -f sees EOF and exits 0
        cid = next(c.id for c in agent.call(agent.runtime.list_containers())
                   if c.labels.get("io.kubernetes.pod.uid") == pod["metadata"]["uid"])
        agent.call(agent.runtime.stop_container(cid, 0))
        assert follow.wait(timeout=20) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()


def test_kubectl_exec_output_exit_code_and_stdin(tug: TugServer, ns: str, agent: AgentThread) -> None:
    run_pod(tug, ns, agent, "ex")
    p = tug.kubectl("exec", "-n", ns, "ex", "--", "echo", "hello", "world")
    assert p.stdout == "hello world\n"
    p = tug.kubectl("exec", "-n", ns, "ex", "--", "sh", "-c", "echo out; echo err >&2; exit 2", check=False)
    assert p.returncode == 2 and p.stdout == "out\n"
    assert "err\n" in p.stderr and "command terminated with exit code 2" in p.stderr
    p = tug.kubectl("exec", "-i", "-n", ns, "ex", "--", "cat", input="hello-stdin\n")
    assert p.stdout == "hello-stdin\n"
    p = tug.kubectl("exec", "-n", ns, "ex", "-c", "nope", "--", "ls", check=False)
    assert p.returncode != 0 and "container nope is not valid for pod ex" in p.stderr


def test_python_client_exec_stream(tug: TugServer, ns: str, agent: AgentThread) -> None:
    from kubernetes import client, config
    from kubernetes.stream import stream

    run_pod(tug, ns, agent, "py")
    v1 = client.CoreV1Api(config.new_client_from_config(config_file=str(tug.kubeconfig)))
    out = stream(v1.connect_get_namespaced_pod_exec, "py", ns, command=["echo", "from-python"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "from-python\n"
    resp = stream(v1.connect_get_namespaced_pod_exec, "py", ns, command=["cat"], stderr=True, stdin=True,
                  stdout=True, tty=False, _preload_content=False)
    resp.write_stdin("ping\n")
    deadline = time.monotonic() + 10
    got = ""
    while "ping\n" not in got and time.monotonic() < deadline:
        resp.update(timeout=1)
        got += resp.read_stdout()
    assert got == "ping\n"
    resp.close_channel(0)  # v5: stdin EOF, cat exits
    resp.run_forever(timeout=10)
    assert resp.returncode == 0
    resp = stream(v1.connect_get_namespaced_pod_exec, "py", ns, command=["sh", "-c", "exit 3"], stderr=True,
                  stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.returncode == 3
