"""A real node for end-to-end tests: registry + `tug server` + `tug agent` (runc) as processes.

    with real_node() as node:                 # skips unless root with runc and the CNI plugins
        node.kubectl("create", "-f", "-", input=manifest)
        pod = node.wait_pod(ns, "web", running)

What runs, all on loopback and all owned by the test:
- Debian's docker-registry with a busybox image (built from busybox-static) pushed as
  `library/busybox:latest`, so `image: busybox` resolves to it through a registries.yaml that
  mirrors docker.io to it (nothing ever reaches a public registry);
- `tug server` (API server + controllers; the scheduler is left out: test pods name their node);
- `tug agent` with its own data dir, runc state dir (tmpfs under /run), cgroup root, pod bridge
  `tgt<random>` and pod CIDR 10.250.<random>.0/24, so nothing collides with a real node.

Teardown (always, in finally blocks): delete every pod and wait for the agent to tear them
down, stop the agent by pid, remove whatever a crashed run left with a RuncRuntime over the
same directories, destroy the test bridge and its iptables chains, then check the host for
leftovers (netns, veth, bridge, chains, mounts, cgroups, runc containers, shim processes) and
fail the run if any remain. `pod_leftovers()` does the same check for one deleted pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import TugServer, http_client, start_server, stop_server

RUNC = "/usr/sbin/runc"
CNI_BIN = "/usr/lib/cni"
NETWORK_NAME = "tugboat"
Pod = dict[str, Any]


def skip_reason() -> str:
    """Why real-node tests cannot run here ('' when they can)."""
    if os.geteuid() != 0:
        return "real-node tests need root (runc, network namespaces, cgroups)"
    if not os.path.exists(RUNC):
        return "runc is not installed (apt-get install runc, or make setup)"
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        if not os.path.exists(os.path.join(CNI_BIN, plugin)):
            return f"CNI plugin {plugin} missing in {CNI_BIN} (apt-get install containernetworking-plugins)"
    for tool in ("unshare", "iptables", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


class LoopThread:
    """An asyncio loop in a thread, for the async registry helpers inside sync fixtures."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _free_cidr() -> str:
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    for _ in range(50):
        octet = secrets.randbelow(254) + 1
        if f"10.250.{octet}." not in routes:
            return f"10.250.{octet}.0/24"
    raise RuntimeError("no free 10.250.x.0/24 for the test pod CIDR")


@dataclass
class RealNode:
    server: TugServer
    registry_host: str
    base: Path  # everything of the agent lives under here
    node_name: str
    bridge: str
    pod_cidr: str
    cgroup_root: str
    http: httpx.Client
    proc: subprocess.Popen[bytes] | None = None
    agent_starts: int = 0
    sync_frequency: float = 5.0
    busybox_digest: str = ""  # manifest digest of library/busybox:latest in the test registry
    namespaces: list[str] = field(default_factory=list)
    extra_agent_args: list[str] = field(default_factory=list)  # e.g. ["--cluster-dns", "10.96.0.10"]
    # leftover checks look at every tug-* netns on the host (the default), or — for tests that run
    # beside other real nodes — only at those of sandboxes this node's runtime recorded
    own_netns_only: bool = False
    seen_sandboxes: set[str] = field(default_factory=set)

    # ---- paths ----
    @property
    def data_dir(self) -> Path:
        return self.base / "agent"

    @property
    def state_dir(self) -> Path:
        return Path("/run/tugboat-e2e") / self.node_name

    @property
    def runtime_dir(self) -> Path:
        return self.data_dir / "runtime"

    @property
    def runc_root(self) -> Path:
        return self.state_dir / "runc"

    @property
    def agent_log(self) -> Path:
        return self.base / "agent.log"

    @property
    def gateway(self) -> str:
        """The bridge's address: pods' default gateway, the node address pods can reach."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    # ---- the agent process ----
    def agent_argv(self) -> list[str]:
        return [sys.executable, "-m", "tugboat.cli.main", "agent", "--kubeconfig", str(self.server.kubeconfig),
                "--node-name", self.node_name, "--data-dir", str(self.data_dir),
                "--registry-config", str(self.base / "registries.yaml"), "--pod-cidr", self.pod_cidr,
                "--bridge", self.bridge, "--runtime-state-dir", str(self.state_dir),
                "--cgroup-root", self.cgroup_root, "--sync-frequency", str(self.sync_frequency), "--log-level", "info",
                # The agent's HTTPS server on loopback and a free port (never a real node's 10250);
                # extra_agent_args come last, so a test can override any of these.
                "--address", "127.0.0.1", "--port", "0", "--node-ip", "127.0.0.1",
                # several real nodes share the host's routing table: no host-gw routes from them
                "--flannel-backend", "none",
                *self.extra_agent_args]

    def start_agent(self, timeout: float = 60) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.agent_starts += 1
        log = open(self.agent_log, "ab")
        log.write(f"---- agent start #{self.agent_starts} ----\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.agent_argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parents[2]))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tug agent exited ({self.proc.returncode}):\n{self.log_tail()}")
            if "registered (runtime" in self.agent_log.read_text(errors="replace").rsplit("---- agent start", 1)[-1]:
                return
            time.sleep(0.1)
        raise RuntimeError(f"tug agent did not register in {timeout}s:\n{self.log_tail()}")

    def stop_agent(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.agent_log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # ---- API helpers ----
    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, **kw)

    def create(self, ns: str, obj: dict[str, Any]) -> None:
        """`kubectl create -f -` (pods get this node's name: the scheduler is not part of these tests)."""
        if obj.get("kind") == "Pod":
            obj.setdefault("spec", {})["nodeName"] = self.node_name
        self.kubectl("-n", ns, "create", "-f", "-", input=orjson.dumps(obj).decode())

    def get(self, path: str) -> dict[str, Any] | None:
        r = self.http.get(path)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def pod(self, ns: str, name: str) -> Pod | None:
        return self.get(f"/api/v1/namespaces/{ns}/pods/{name}")

    def wait_pod(self, ns: str, name: str, pred: Callable[[Pod], object], timeout: float = 60,
                 what: str = "condition") -> Pod:
        deadline = time.monotonic() + timeout
        pod = None
        while time.monotonic() < deadline:
            pod = self.pod(ns, name)
            if pod is not None and pred(pod):
                return pod
            time.sleep(0.2)
        raise AssertionError(f"pod {ns}/{name}: {what} not reached in {timeout}s; last status:\n"
                             f"{orjson.dumps((pod or {}).get('status'), option=orjson.OPT_INDENT_2).decode()}\n"
                             f"agent log:\n{self.log_tail(30)}")

    def wait_gone(self, ns: str, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pod(ns, name) is None:
                return
            time.sleep(0.2)
        raise AssertionError(f"pod {ns}/{name} still exists after {timeout}s\n{self.log_tail(30)}")

    def events(self, ns: str, name: str) -> list[dict[str, Any]]:
        data = self.get(f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name={name}") or {}
        return list(data.get("items") or [])

    def new_namespace(self) -> str:
        name = "real-" + secrets.token_hex(4)
        self.kubectl("create", "namespace", name)
        deadline = time.monotonic() + 30  # pods need the namespace's default ServiceAccount
        while self.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no default ServiceAccount in {name}")
            time.sleep(0.1)
        self.namespaces.append(name)
        return name

    # ---- the host side of containers ----
    def container_record(self, container_id: str) -> dict[str, Any]:
        cid = container_id.split("://", 1)[-1]
        data: dict[str, Any] = orjson.loads((self.runtime_dir / "containers" / cid / "container.json").read_bytes())
        return data

    def runc_state(self, container_id: str) -> dict[str, Any] | None:
        cid = container_id.split("://", 1)[-1]
        p = subprocess.run([RUNC, "--root", str(self.runc_root), "state", cid], capture_output=True, text=True)
        if p.returncode != 0:
            return None
        data: dict[str, Any] = orjson.loads(p.stdout)
        return data

    def log_file(self, pod: Pod, container: str, attempt: int = 0) -> Path:
        md = pod["metadata"]
        return (self.data_dir / "logs" / f"{md['namespace']}_{md['name']}_{md['uid']}" / container
                / f"{attempt}.log")

    def snapshot(self, uid: str) -> dict[str, list[str]]:
        """The host objects of one pod (by the runtime's records and the CNI result cache)."""
        sandboxes, containers, veths = [], [], []
        for f in (self.runtime_dir / "sandboxes").glob("*/sandbox.json"):
            rec = orjson.loads(f.read_bytes())
            if rec["pod_uid"] == uid:
                sandboxes.append(rec["id"])
        for f in (self.runtime_dir / "containers").glob("*/container.json"):
            rec = orjson.loads(f.read_bytes())
            if rec["sandbox_id"] in sandboxes:
                containers.append(rec["id"])
        for sid in sandboxes:
            res = self.data_dir / "cni" / "results" / f"{NETWORK_NAME}-{sid}.json"
            if res.exists():
                result = orjson.loads(res.read_bytes())["result"]
                veths += [i["name"] for i in result.get("interfaces") or [] if "sandbox" not in i
                          and i.get("name") != self.bridge]
        return {"uid": [uid], "sandboxes": sandboxes, "containers": containers, "veths": veths}

    def pod_leftovers(self, snap: dict[str, list[str]]) -> list[str]:
        """What of one pod is still on the host: runc containers, mounts, netns, veth, cgroups,
        shim and container processes, state directories."""
        out: list[str] = []
        ids = snap["sandboxes"] + snap["containers"]
        listed = subprocess.run([RUNC, "--root", str(self.runc_root), "list", "-q"], capture_output=True,
                                text=True).stdout.split()
        out += [f"runc container {c}" for c in listed if c in snap["containers"]]
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mnt = line.split()[4]
                if any(i in mnt for i in ids + snap["uid"]):
                    out.append(f"mount {mnt}")
        out += [f"netns tug-{s}" for s in snap["sandboxes"] if os.path.lexists(f"/run/netns/tug-{s}")]
        out += [f"veth {v}" for v in snap["veths"] if os.path.exists(f"/sys/class/net/{v}")]
        for table in ("nat", "filter"):
            rules = subprocess.run(["iptables", "-w", "5", "-t", table, "-S"], capture_output=True, text=True).stdout
            out += [f"iptables {table}: {r}" for r in rules.splitlines() if any(s in r for s in snap["sandboxes"])]
        for hier in _cgroup_hierarchies():
            pod_cg = hier / self.cgroup_root / f"pod{snap['uid'][0]}"
            if pod_cg.exists():
                out.append(f"cgroup {pod_cg}")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(c in cmd for c in snap["containers"]):
                out.append(f"process {pid} {cmd[:100]}")
        for sub, items in (("sandboxes", snap["sandboxes"]), ("containers", snap["containers"])):
            out += [f"dir {sub}/{i}" for i in items if (self.runtime_dir / sub / i).exists()]
        out += [f"dir images/containers/{c}" for c in snap["containers"]
                if (self.data_dir / "images" / "containers" / c).exists()]
        if (self.data_dir / "pods" / snap["uid"][0]).exists():
            out.append(f"dir pods/{snap['uid'][0]}")
        return out

    def host_leftovers(self) -> list[str]:
        """Everything of the whole test node still on the host (after teardown: must be [])."""
        from tugboat.node.runtime.runc_hostcheck import leftovers

        ids = _all_netns_ids()
        if self.own_netns_only:
            self.seen_sandboxes |= {p.name for p in (self.runtime_dir / "sandboxes").glob("*")}
            ids = [i for i in ids if i in self.seen_sandboxes]
        out = leftovers(dirs=[str(self.base), str(self.state_dir)], sandbox_ids=ids,
                        bridge=self.bridge, network_name=NETWORK_NAME, cgroup_root=self.cgroup_root,
                        runc_root=str(self.runc_root))
        out += [f"cgroup root {h / self.cgroup_root}" for h in _cgroup_hierarchies()
                if (h / self.cgroup_root).exists()]
        return out


def _cgroup_hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return [root]
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]


def _all_netns_ids() -> list[str]:
    d = Path("/run/netns")
    return [n.name[4:] for n in d.iterdir() if n.name.startswith("tug-")] if d.is_dir() else []


async def _force_cleanup(node: RealNode) -> None:
    """Remove whatever the agent left (a crashed or killed run), with the runtime's own code."""
    from tugboat.node.images.service import LocalImageService
    from tugboat.node.network.pod_network import PodNetwork
    from tugboat.node.runtime import _cgroups
    from tugboat.node.runtime.runc import RuncRuntime

    images = LocalImageService(node.data_dir / "images")
    net = PodNetwork(node.pod_cidr, bridge=node.bridge, conf_dir=str(node.data_dir / "cni"))
    try:
        rt = RuncRuntime(images, root_dir=str(node.runtime_dir), state_dir=str(node.state_dir), network=net,
                         cgroup_root=node.cgroup_root)
        for sb in await rt.list_sandboxes():
            with contextlib.suppress(Exception):
                await rt.remove_sandbox(sb.id)
        for c in await rt.list_containers():
            with contextlib.suppress(Exception):
                await rt.remove_container(c.id)
        await net.destroy()
        _cgroups.remove_tree("/" + node.cgroup_root)
    finally:
        await images.close()
    with open("/proc/self/mountinfo") as f:  # e.g. emptyDir tmpfs of a pod the agent never tore down
        mounts = [line.split()[4] for line in f]
    for m in sorted((m for m in mounts if m.startswith(str(node.base) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


@contextlib.contextmanager
def real_node(sync_frequency: float = 5.0, agent_args: Sequence[str] = (),
              own_netns_only: bool = False, server_args: Sequence[str] = (),
              scheduler: bool = False) -> Iterator[RealNode]:
    """`sync_frequency`: the agent's periodic pod sync (5 s so ConfigMap updates show quickly;
    upstream's 60 s for benchmarks of the agent at rest). `agent_args`: extra `tug agent` flags
    (e.g. `--cluster-dns 10.96.0.10`). `own_netns_only`: the leftover check ignores network
    namespaces of sandboxes this node never had (other real nodes running at the same time).
    `server_args`: extra `tug server` flags. `scheduler`: run the scheduler too (pods created
    without spec.nodeName get scheduled, e.g. for WaitForFirstConsumer volumes)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.support.registry import push_busybox, running_registry

    lt = LoopThread()
    reg_cm = running_registry()
    # The CNI bridge plugin turns IP forwarding on; a test run puts the host back as it was.
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    forward_before = forward.read_text()
    base = Path(tempfile.mkdtemp(prefix="tug-realnode-"))
    server: TugServer | None = None
    node: RealNode | None = None
    failures: list[str] = []
    try:
        reg = lt.run(reg_cm.__aenter__())
        digest = lt.run(push_busybox(reg, "library/busybox:latest",
                            extra_files={"var/www/index.html": "hello from busybox httpd\n"}))
        (base / "registries.yaml").write_text(
            f'mirrors:\n  docker.io:\n    endpoint: ["http://{reg.host}"]\n')
        server = start_server([*(() if scheduler else ("--disable", "scheduler")), *server_args])
        tag = secrets.token_hex(3)
        node = RealNode(server=server, registry_host=reg.host, base=base, node_name=f"tug-e2e-{tag}",
                        bridge=f"tgt{tag}", pod_cidr=_free_cidr(), cgroup_root=f"tugboat-e2e-{tag}",
                        http=http_client(server), sync_frequency=sync_frequency, busybox_digest=digest,
                        extra_agent_args=list(agent_args), own_netns_only=own_netns_only)
        node.start_agent()
        yield node
    finally:
        try:
            if node is not None:
                failures += _teardown_node(node)
        finally:
            if server is not None:
                stop_server(server)
            with contextlib.suppress(Exception):
                lt.run(reg_cm.__aexit__(None, None, None), timeout=30)
            lt.close()
            with contextlib.suppress(OSError):
                forward.write_text(forward_before)
            shutil.rmtree(base, ignore_errors=True)
    if failures:
        raise AssertionError("the real node left things on the host:\n" + "\n".join(failures))


def _teardown_node(node: RealNode) -> list[str]:
    node.seen_sandboxes |= {p.name for p in (node.runtime_dir / "sandboxes").glob("*")}
    try:
        if node.proc is not None and node.proc.poll() is None:
            node.kubectl("delete", "pods", "--all", "-A", "--wait=false", check=False)
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                items = (node.get("/api/v1/pods") or {}).get("items") or []
                if not items:
                    break
                time.sleep(0.3)
        node.stop_agent()
    finally:
        left_by_agent = node.host_leftovers()
        asyncio.run(_force_cleanup(node))
        node.http.close()
        shutil.rmtree(node.state_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            node.state_dir.parent.rmdir()
    still = node.host_leftovers()
    out = [f"left by the agent: {x}" for x in left_by_agent if not x.startswith(("link ", "iptables", "cgroup root"))]
    out += [f"left even after forced cleanup: {x}" for x in still]
    return out
