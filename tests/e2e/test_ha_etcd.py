"""High availability on etcd (issue 6, "Beyond one machine"): two `tug server --no-agent`
instances share a three-member etcd cluster and one CA/join token — the second given only
`--token`, fetching the CA and keys the first stored (encrypted) in the datastore. Killing the server whose
controller manager and scheduler lead hands both leases to the other, whose controllers then
converge a Deployment scaled afterwards; a client given both servers fails over; killing one
etcd member leaves writes working and nothing lost."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import TugServer, free_port, stop_server
from tests.support.etcd import ETCD_BIN, etcd_cluster
from tests.support.wait import eventually
from tugboat.client import Client, Config, load_kubeconfig

needs_etcd = pytest.mark.skipif(not os.path.exists(ETCD_BIN), reason="etcd-server not installed")


def _start(root: Path, datastore: str, token: str = "") -> TugServer:
    """`tug server --no-agent` on etcd; `token`: the first server's join token, with which this
    one fetches the cluster CA and keys from the datastore (nothing copied by hand, as k3s)."""
    data = root / "data"
    home = root / "home"
    home.mkdir(parents=True)
    port = free_port()
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(data),
                             "--port", str(port), "--bind-address", "127.0.0.1", "--no-agent",
                             "--datastore", datastore, *(["--token", token] if token else [])],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    srv = TugServer(data, port, proc, home)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tug server exited early:\n{(root / 'server.log').read_text()}")
        if srv.kubeconfig.exists():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    pass
                if srv.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0:
                    return srv
            except OSError:
                pass
        time.sleep(0.1)
    stop_server(srv)
    raise RuntimeError("tug server did not become ready")


@pytest.fixture
def two_servers() -> Iterator[tuple[TugServer, TugServer, object]]:
    with etcd_cluster(3) as cluster:
        roots = [Path(tempfile.mkdtemp(prefix="tug-ha-")) for _ in range(2)]
        servers: list[TugServer] = []
        try:
            a = _start(roots[0], cluster.datastore_url)
            servers.append(a)
            _wait_lease(a, "kube-controller-manager")
            _wait_lease(a, "kube-scheduler")
            servers.append(_start(roots[1], cluster.datastore_url, token=(a.data_dir / "token").read_text().strip()))
            yield servers[0], servers[1], cluster
        finally:
            for s in servers:
                stop_server(s)  # removes roots[i]
            for r in roots:
                shutil.rmtree(r, ignore_errors=True)


def _lease(srv: TugServer, name: str) -> dict[str, object]:
    p = srv.kubectl("-n", "kube-system", "get", "lease", name, "-o", "json", check=False)
    return orjson.loads(p.stdout).get("spec", {}) if p.returncode == 0 else {}


def _wait_lease(srv: TugServer, name: str, not_holder: object = None, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = _lease(srv, name).get("holderIdentity")
        if holder and holder != not_holder:
            return str(holder)
        time.sleep(0.3)
    raise AssertionError(f"lease {name} not held (other than {not_holder!r}) in {timeout}s")


def _deploy(replicas: int) -> str:
    return orjson.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}).decode()


def _replicas(srv: TugServer) -> int:
    p = srv.kubectl("get", "deployment", "web", "-o", "json", check=False)
    return int(orjson.loads(p.stdout).get("status", {}).get("replicas") or 0) if p.returncode == 0 else -1


async def _wait_replicas(srv: TugServer, n: int, timeout: float) -> None:
    async with Client(load_kubeconfig(str(srv.kubeconfig)), component="ha-test") as c:
        async def done() -> bool:
            d = await c.request("GET", "/apis/apps/v1/namespaces/default/deployments/web")
            return int((d.get("status") or {}).get("replicas") or 0) == n
        await eventually(done, timeout, f"deployment status.replicas == {n}")


@needs_etcd
async def test_server_and_etcd_member_failures(two_servers: tuple[TugServer, TugServer, object]) -> None:
    a, b, cluster = two_servers
    cm_holder = _lease(a, "kube-controller-manager")["holderIdentity"]
    sched_holder = _lease(a, "kube-scheduler")["holderIdentity"]
    a.kubectl("apply", "-f", "-", input=_deploy(1))
    await _wait_replicas(b, 1, 30)  # converged by the first leader
    # an agent-like client that knows both servers
    cfg = load_kubeconfig(str(b.kubeconfig))
    cfg.server, cfg.servers = a.url, (a.url, b.url)
    async with Client(cfg, component="ha-test", retry_base=0.05) as client:
        assert (await client.request("GET", "/api/v1/namespaces/default"))["metadata"]["name"] == "default"
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        # the next call finds server A gone and moves on to B
        assert (await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/web"))["spec"]["replicas"] == 1
        assert client.config.server == b.url
    # B's components take both leases over, and B's controllers act on a scale made now
    assert _wait_lease(b, "kube-controller-manager", not_holder=cm_holder) != cm_holder
    assert _wait_lease(b, "kube-scheduler", not_holder=sched_holder) != sched_holder
    b.kubectl("scale", "deployment", "web", "--replicas=3")
    await _wait_replicas(b, 3, 40)  # by the surviving server's controllers
    # one etcd member crashes: writes still work and nothing written before is lost
    cluster.kill(0)  # type: ignore[attr-defined]
    for i in range(5):
        b.kubectl("create", "configmap", f"after-{i}", "--from-literal=k=v")
    names = {i["metadata"]["name"] for i in orjson.loads(b.kubectl("get", "configmaps", "-o", "json").stdout)["items"]}
    assert {f"after-{i}" for i in range(5)} <= names
    assert _replicas(b) == 3
    pods = orjson.loads(b.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(pods) == 3


@needs_etcd
def test_second_server_needs_only_the_token(two_servers: tuple[TugServer, TugServer, object]) -> None:
    a, b, cluster = two_servers
    for f in ("ca.crt", "ca.key", "sa.key"):  # fetched from the datastore, not copied
        assert (b.data_dir / "tls" / f).read_bytes() == (a.data_dir / "tls" / f).read_bytes(), f
    assert (b.data_dir / "token").read_text() == (a.data_dir / "token").read_text()
    # a service-account token issued by A is valid on B (shared signing key)
    token = a.kubectl("create", "token", "default").stdout.strip()
    review = orjson.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                           "spec": {"token": token}}).decode()
    status = orjson.loads(b.kubectl("create", "-f", "-", "-o", "json", input=review).stdout)["status"]
    assert status.get("authenticated") is True, status
    assert status["user"]["username"] == "system:serviceaccount:default:default"
    # a token pinning another CA is refused before the server makes or serves anything
    creds = (a.data_dir / "token").read_text().strip().partition("::")[2]
    root = Path(tempfile.mkdtemp(prefix="tug-ha-bad-"))
    try:
        p = subprocess.run([sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(root / "data"),
                            "--port", str(free_port()), "--no-agent", "--datastore",
                            cluster.datastore_url, "--token", "K10" + "0" * 64 + "::" + creds],  # type: ignore[attr-defined]
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "does not match the token's pin" in p.stderr, p.stderr[-2000:]
        assert not (root / "data" / "tls" / "ca.key").exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@needs_etcd
async def test_agent_learns_every_server_and_fails_over(two_servers: tuple[TugServer, TugServer, object]) -> None:
    """The lease endpoint reconciler lists both servers in default/kubernetes; an agent started
    with server A alone keeps its node's Lease renewed through B once A is killed."""
    a, b, _cluster = two_servers

    def endpoint_ports() -> set[int]:
        ep = orjson.loads(b.kubectl("get", "endpoints", "kubernetes", "-o", "json").stdout)
        return {p["port"] for s in ep.get("subsets") or [] for p in s["ports"]}

    assert eventually_sync(lambda: endpoint_ports() == {a.port, b.port}, 30, "default/kubernetes lists A and B")
    root = Path(tempfile.mkdtemp(prefix="tug-ha-agent-"))
    log = open(root / "agent.log", "wb")
    agent = subprocess.Popen([sys.executable, "-m", "tugboat.cli.main", "agent", "--simulate", "1",
                              "--kubeconfig", str(a.kubeconfig), "--node-prefix", "ha-sim-",
                              "--data-dir", str(root / "agent"), "--node-lease-duration-seconds", "4"],
                             stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        def renew_time() -> str:
            p = b.kubectl("-n", "kube-node-lease", "get", "lease", "ha-sim-0", "-o", "json", check=False)
            return str(orjson.loads(p.stdout)["spec"].get("renewTime") or "") if p.returncode == 0 else ""

        assert eventually_sync(renew_time, 60, "the simulated node's Lease")
        assert eventually_sync(lambda: "registered" in (root / "agent.log").read_text(), 30, "agent registered")
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        before = renew_time()
        # renewals every second (lease 4 s): several must land on B after A is gone
        seen = {before}
        deadline = time.monotonic() + 60
        while len(seen) < 4 and time.monotonic() < deadline:
            seen.add(renew_time())
            time.sleep(0.5)
        assert len(seen) >= 4, (seen, (root / "agent.log").read_text()[-3000:])
        assert agent.poll() is None
        # A is gone from default/kubernetes after its record's TTL (15 s)
        assert eventually_sync(lambda: endpoint_ports() == {b.port}, 60, "A's endpoint expired")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        shutil.rmtree(root, ignore_errors=True)


def eventually_sync(fn: object, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()  # type: ignore[operator]
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_client_failover_goes_round_the_servers() -> None:
    cfg = Config(server="https://a:1", servers=("https://a:1/", "https://b:2", "https://c:3"))
    seen = []
    for _ in range(4):
        assert cfg.failover()
        seen.append(cfg.server)
    assert seen == ["https://b:2", "https://c:3", "https://a:1", "https://b:2"]
    assert not Config(server="https://a:1", servers=("https://a:1",)).failover()
    assert not Config(server="https://a:1").failover()
