"""`tug server` alone is a working single-node cluster: agent, proxy and DNS come with it.

As root with runc + CNI: busybox is pushed to a test registry that DATA_DIR/registries.yaml
mirrors docker.io to (written before the server starts), then ONE `tug server` process runs on
a free port with its own data dir, node name, pod bridge, cgroup root, runc state dir and a
random 10.2xx.0.0/16 cluster CIDR (so nothing collides with a real node or other tests). With
the real kubectl: the node turns Ready, a Deployment of 2 busybox httpd replicas + a Service
`web` serve, and a client pod's `wget http://web` (cluster DNS through the proxy's VIP) reaches
them. SIGTERM to the server must leave no process, container, mount, netns, veth, bridge,
iptables rule, route or cgroup behind; the finally blocks clean up regardless (by pid, with the
runtime's own code and `tug proxy --cleanup`) and the host's sysctls are put back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import yaml

from tests.e2e.conftest import TugServer, free_port
from tests.e2e.realnode import LoopThread, skip_reason
from tests.e2e.test_real_services import _proxy_leftovers
from tugboat.cli.node_components import NodeConfig, gateway_of, remove_workloads
from tugboat.node.runtime import _cgroups
from tugboat.node.runtime.runc_hostcheck import leftovers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
needs_real_node = pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "ok")

REPO = Path(__file__).resolve().parents[2]
SYSCTLS = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/all/route_localnet")
T = TypeVar("T")


def eventually(fn: Callable[[], T], ok: Callable[[T], object] = bool, timeout: float = 60,
               what: str = "condition", every: float = 0.3) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if ok(last):
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def _free_cluster_cidr() -> str:
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    for _ in range(50):
        octet = 200 + secrets.randbelow(50)
        if f"10.{octet}." not in routes:
            return f"10.{octet}.0.0/16"
    raise RuntimeError("no free 10.2xx.0.0/16 for the test cluster CIDR")


@contextlib.contextmanager
def _host_proxy_lock() -> Iterator[None]:
    """The same lock as test_real_services: one host-wide `tug proxy` at a time."""
    with open(REPO / "tests/e2e/test_real_services.py") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(p))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


def _alive(pids: set[int]) -> list[str]:
    out = []
    for p in pids:
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmd:
                out.append(f"process {p} {cmd[:400]}")
    return out


CONTAINERFILE = """FROM busybox
ARG PORT=8080
ENV PORT=$PORT
COPY --chmod=755 start.sh /usr/local/bin/
WORKDIR /www
EXPOSE $PORT
CMD ["start.sh"]
"""
START_SH = "#!/bin/sh\nhostname > /www/index.html\nexec httpd -f -p \"$PORT\" -h /www\n"


def web_deployment() -> dict[str, Any]:
    """2 replicas of `web` — the image `tug image build` made from CONTAINERFILE, found through
    the docker.io mirror that is the server's own registry."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 1, "containers": [{
                             "name": "httpd", "image": "web:1",
                             "ports": [{"name": "http", "containerPort": 8080}],
                             "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}}}


WEB_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}
OBJECTS = [web_deployment(),
           {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}]


def _json(srv: TugServer, *args: str) -> Any:
    p = srv.kubectl(*args, "-o", "json", check=False)
    return orjson.loads(p.stdout) if p.returncode == 0 else None


def _node_ready(srv: TugServer, name: str) -> bool:
    node = _json(srv, "get", "node", name) or {}
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions", []))


def _start(argv: list[str], log: Path, srv_data: Path, port: int, home: Path) -> TugServer:
    with open(log, "ab") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO))
    srv = TugServer(srv_data, port, proc, home)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tug server exited early:\n{log.read_text(errors='replace')}")
        if srv.kubeconfig.exists() and srv.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0:
            return srv
        time.sleep(0.1)
    raise RuntimeError(f"tug server not ready in 30 s:\n{log.read_text(errors='replace')}")


def _tug(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "tugboat.cli.main", *args], capture_output=True, text=True,
                       cwd=str(REPO), timeout=timeout)
    assert p.returncode == 0, f"tug {' '.join(args)}: {p.stdout}\n{p.stderr}"
    return p


def test_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        p = subprocess.run([sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(tmp_path / "d"),
                            "--port", str(s.getsockname()[1]), "--no-agent"], capture_output=True, text=True,
                           cwd=str(REPO), timeout=60)
    assert p.returncode == 1 and "is in use" in p.stderr and "--port" in p.stderr, p.stderr
    assert not (tmp_path / "d").exists()  # nothing was started or written


@pytest.mark.parametrize("flags", [["--no-agent"], ["--disable", "agent,proxy,dns"]])
def test_control_plane_only(tmp_path: Path, flags: list[str]) -> None:
    """--no-agent / --disable agent,…: the server's only child is `tug components` (no local
    node: no local registry either)."""
    port = free_port()
    argv = [sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(tmp_path / "data"),
            "--port", str(port), "--bind-address", "127.0.0.1", *flags]
    (tmp_path / "home").mkdir()
    srv = _start(argv, tmp_path / "server.log", tmp_path / "data", port, tmp_path / "home")
    try:
        kids = eventually(lambda: _alive(_descendants(srv.proc.pid)), what="the components child")
        assert len(kids) == 1 and " components " in kids[0], kids
        assert srv.kubectl("get", "nodes", "-o", "name").stdout.strip() == ""
        # no local DNS server: no DNS add-on (the manifests directory is there, for the user's own)
        assert (srv.data_dir / "server/manifests").is_dir()
        assert not (srv.data_dir / "server/manifests/dns.yaml").exists()
    finally:
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(30) == 0
    assert "tug: stopped" in (tmp_path / "server.log").read_text()


@needs_real_node
def test_tug_server_is_a_single_node_cluster() -> None:
    from tests.support.registry import build_busybox_rootfs, push_busybox, running_registry

    tag = secrets.token_hex(3)
    base = Path(tempfile.mkdtemp(prefix="tug-one-"))
    data, home = base / "data", base / "home"
    data.mkdir(mode=0o700)
    home.mkdir()
    cfg = NodeConfig(data=data, node_name=f"tug-one-{tag}", cluster_cidr=_free_cluster_cidr(), bridge=f"tgo{tag}",
                     cgroup_root=f"tugboat-one-{tag}", runtime_state_dir=f"/run/tugboat-e2e/one-{tag}")
    sysctls = {p: Path(p).read_text() for p in SYSCTLS}
    lt = LoopThread()
    reg_cm = running_registry()
    srv: TugServer | None = None
    pod_cidr, sandboxes, pids = "", set(), set()
    try:
        with _host_proxy_lock():
            reg = lt.run(reg_cm.__aenter__())
            lt.run(push_busybox(reg, "library/busybox:latest"))
            (data / "registries.yaml").write_text(f'mirrors:\n  docker.io:\n    endpoint: ["http://{reg.host}"]\n')
            port = free_port()
            argv = [sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(data), "--port", str(port),
                    "--bind-address", "127.0.0.1", "--node-name", cfg.node_name, "--cluster-cidr", cfg.cluster_cidr,
                    "--bridge", cfg.bridge, "--cgroup-root", cfg.cgroup_root,
                    "--runtime-state-dir", cfg.runtime_state_dir,
                    # the agent's HTTPS server on loopback, a free port; DNS forwards only to a closed
                    # loopback port (nothing leaves the host)
                    "--agent-arg=--address=127.0.0.1", "--agent-arg=--port=0", "--agent-arg=--node-ip=127.0.0.1",
                    "--dns-arg=--upstream=127.0.0.1:9", "--registry-port", "0"]
            t0 = time.monotonic()
            srv = _start(argv, base / "server.log", data, port, home)
            eventually(lambda: _node_ready(srv, cfg.node_name), timeout=60, what="node Ready")
            ready_s = time.monotonic() - t0
            pids = _descendants(srv.proc.pid)
            nodes = srv.kubectl("get", "nodes").stdout
            assert cfg.node_name in nodes and " Ready " in nodes, nodes
            node = eventually(lambda: _json(srv, "get", "node", cfg.node_name),
                              lambda n: (n.get("spec") or {}).get("podCIDR"), what="the node's podCIDR")
            pod_cidr = node["spec"]["podCIDR"]
            assert pod_cidr.startswith(cfg.cluster_cidr.split(".0.0/")[0] + "."), pod_cidr
            eventually(lambda: _json(srv, "-n", "default", "get", "serviceaccount", "default"), what="default SA")
            # cluster DNS is an add-on manifest: ordinary objects that point at the node's DNS server
            dns_slice = eventually(lambda: _json(srv, "-n", "kube-system", "get", "endpointslice", "kube-dns"),
                                   what="the kube-dns EndpointSlice")
            assert dns_slice["metadata"]["annotations"]["deploy.tugboat.io/source"] == "dns.yaml"
            assert dns_slice["endpoints"][0]["addresses"] == [gateway_of(pod_cidr)[0]]
            # the server's own registry: busybox pushed by its Docker Hub name, `web:1` built FROM it
            local = yaml.safe_load((data / "registry/config.yml").read_text())["http"]["addr"]
            eventually(lambda: "image registry ready" in (base / "server.log").read_text(), what="registry ready")
            build_busybox_rootfs(base / "busybox")
            _tug("image", "push", str(base / "busybox"), "busybox", "--registry", local)
            (base / "ctx").mkdir()
            (base / "ctx/Containerfile").write_text(CONTAINERFILE)
            (base / "ctx/start.sh").write_text(START_SH)
            out = _tug("image", "build", "-t", "web:1", "--registry", local, str(base / "ctx")).stdout
            assert f"{local}/library/web:1: pushed sha256:" in out, out
            listing = _tug("image", "ls", "--registry", local).stdout
            assert f"{local}/library/web" in listing and f"{local}/library/busybox" in listing, listing
            # the Service through the manifests directory (auto-deploy), the rest with kubectl
            (data / "server/manifests/web.yaml").write_text(yaml.safe_dump(WEB_SERVICE))
            srv.kubectl("-n", "default", "create", "-f", "-",
                        input="\n".join(orjson.dumps(o).decode() for o in OBJECTS))
            eventually(lambda: (_json(srv, "-n", "default", "get", "deployment", "web") or {}).get("status", {})
                       .get("availableReplicas") == 2, timeout=120, what="2 web replicas available")
            eventually(lambda: (_json(srv, "-n", "default", "get", "pod", "client") or {}).get("status", {})
                       .get("phase") == "Running", timeout=60, what="client Running")
            names = {p["metadata"]["name"] for p in _json(srv, "-n", "default", "get", "pods", "-l", "app=web")["items"]}

            def fetch() -> list[str]:
                p = srv.kubectl("-n", "default", "exec", "client", "--", "sh", "-c",
                                "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do timeout 3 wget -qO- http://web || echo ERR;"
                                " done", check=False, timeout=60)
                return p.stdout.split()

            # every answer from a replica, and both replicas answer (once the proxy has both endpoints)
            eventually(fetch, lambda out: len(out) == 12 and set(out) == names, timeout=60,
                       what="wget http://web answered by both replicas")
            sandboxes = {p.name for p in (data / "agent/runtime/sandboxes").glob("*")}
            assert len(sandboxes) == 3
            pids |= _descendants(srv.proc.pid)
            kids = " ".join(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                            for p in pids if os.path.exists(f"/proc/{p}/cmdline"))
            # the API server's own process, the components, and ONE process for agent + proxy + DNS
            assert "tugboat.cli.main components" in kids and "tugboat.cli.main node-services" in kids, kids
            assert " agent --kubeconfig" in kids and " --and proxy " in kids and " --and dns " in kids, kids
            srv.proc.send_signal(signal.SIGTERM)
            assert srv.proc.wait(120) == 0
            log = (base / "server.log").read_text(errors="replace")
            assert "tug: stopped" in log, log[-3000:]
            left = _alive(pids)
            left += leftovers(dirs=[str(base), cfg.runtime_state_dir], sandbox_ids=sorted(sandboxes),
                              bridge=cfg.bridge, network_name="tugboat", cgroup_root=cfg.cgroup_root,
                              runc_root=f"{cfg.runtime_state_dir}/runc")
            left += [f"cgroup root {d}" for d in _cgroups.all_dirs("/" + cfg.cgroup_root) if os.path.isdir(d)]
            left += _proxy_leftovers()
            assert not left, f"tug server left things on the host after SIGTERM: {left}"
            print(f"node Ready {ready_s:.1f}s after start")
            for line in ("DNS ready (", "cluster ready in ", f"node {cfg.node_name} Ready ("):
                assert line in log, log[-3000:]
    finally:
        try:
            if srv is not None and srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait(10)
            for line in _alive(pids):  # children of a killed server (by pid, if still ours)
                if str(data) in line or cfg.runtime_state_dir in line:
                    with contextlib.suppress(OSError):
                        os.kill(int(line.split()[1]), signal.SIGKILL)
            asyncio.run(remove_workloads(cfg, pod_cidr))
            subprocess.run([sys.executable, "-m", "tugboat.cli.main", "proxy", "--cleanup"], capture_output=True,
                           cwd=str(REPO), timeout=60)
        finally:
            for p, v in sysctls.items():
                with contextlib.suppress(OSError):
                    Path(p).write_text(v)
            with contextlib.suppress(Exception):
                lt.run(reg_cm.__aexit__(None, None, None), timeout=30)
            lt.close()
            shutil.rmtree(cfg.runtime_state_dir, ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)
