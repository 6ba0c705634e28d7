"""Several real nodes on one machine: one `tug server` and N agents, each in its own netns.

    with multi_node(n=3, agent_args=[...], server_args=[...]) as cluster:
        cluster.kubectl("create", "-f", "-", input=manifest)
        pod = cluster.wait_pod(ns, "web", running)
        cluster.exec(ns, "client", "wget", "-qO-", "http://web")
        cluster.stop_agent(1)          # SIGTERM (or sig=SIGKILL) the agent of node 1
        cluster.cut_off(2)             # node 2's link down: no heartbeats, no traffic
        cluster.reconnect(2); cluster.start_agent(1)

What runs (skips unless root with runc, the CNI plugins, nsenter and docker-registry):
- a test bridge `tgb<tag>` on the host with 172.31.<r>.1/24 — the only host address anything
  here uses: `tug server` (with controllers and scheduler) binds to it, the test registry is
  reachable on it (a forwarder to Debian's docker-registry on loopback, busybox pushed as
  `library/busybox:latest`), and `tug dns` listens on it (behind the kube-dns Service);
- per node i: netns `tgmn<tag>-<i>` whose `eth0` (172.31.<r>.(10+i)) is a veth to the test
  bridge. No default route: a packet for anything but the test subnet, the pod routes and the
  service VIPs the proxy translates has nowhere to go. The agent runs in it with
  `nsenter --net` (only the network namespace changes, so runc, cgroups and mounts are the
  host's), with host-gw routes, network policy and its own pod bridge; the node's podCIDR
  comes from the server's node-IPAM controller (cluster CIDR 10.244.0.0/16 inside the
  netns only). `tug proxy --netns` programs each node's iptables from the host side.
- one host iptables rule (FORWARD ACCEPT within the test bridge, for hosts whose FORWARD
  policy is DROP) — removed at the end.

Teardown (finally blocks): delete all pods and wait for the agents to tear them down, stop
proxies, agents, DNS, server by pid; in each node's netns remove what a crashed agent left
with the runtime's own code (tests.e2e.realnode._force_cleanup via a child under nsenter);
delete the netns, the bridge, the host rule; then check for leftovers (netns, links, chains,
mounts, cgroups, runc containers) and fail the run if any remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import KUBECTL, free_port
from tests.e2e.realnode import LoopThread, skip_reason

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
DNS_VIP = "10.96.0.10"
Pod = dict[str, Any]


def multinode_skip_reason() -> str:
    return skip_reason() or ("" if shutil.which("nsenter") else "nsenter is not installed (util-linux)")


def sh(*cmd: str, check: bool = True, input: str | None = None) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p.stdout


def _free_subnet() -> str:
    used = sh("ip", "-4", "addr", "show") + sh("ip", "-4", "route", "show")
    for _ in range(50):
        r = 100 + secrets.randbelow(150)
        if f"172.31.{r}." not in used:
            return f"172.31.{r}"
    raise RuntimeError("no free 172.31.x.0/24 for the test bridge")


def _tug(argv: list[str], log: Path, netns: str | None = None) -> subprocess.Popen[bytes]:
    prefix = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
    with open(log, "ab") as f:
        return subprocess.Popen([*prefix, sys.executable, "-m", "tugboat.cli.main", *argv], stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO))


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _wait_log(proc: subprocess.Popen[bytes], log: Path, want: str, timeout: float, since: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if want in (text.rsplit(since, 1)[-1] if since else text):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"no {want!r} from {proc.args!r} in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


async def _forward(host: str, port: int, target: tuple[str, int]) -> asyncio.AbstractServer:
    """A TCP forwarder host:port → target (the registry listens on loopback only)."""
    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await asyncio.open_connection(*target)
        except OSError:
            w.close()
            return
        await asyncio.gather(pipe(r, tw), pipe(tr, w))

    return await asyncio.start_server(handle, host, port)


@dataclass
class MNode:
    index: int
    name: str
    netns: str
    ip: str
    host_veth: str
    base: Path
    state_dir: Path
    cgroup_root: str
    agent: subprocess.Popen[bytes] | None = None
    proxy: subprocess.Popen[bytes] | None = None
    agent_starts: int = 0
    pod_cidr: str = ""  # from the Node, once node IPAM gave it one

    @property
    def data_dir(self) -> Path:
        return self.base / "agent"

    @property
    def agent_log(self) -> Path:
        return self.base / "agent.log"

    @property
    def proxy_log(self) -> Path:
        return self.base / "proxy.log"

    def in_ns(self, *cmd: str, check: bool = True) -> str:
        return sh("ip", "netns", "exec", self.netns, *cmd, check=check)


@dataclass
class MultiNode:
    base: Path
    subnet: str  # "172.31.R"
    tag: str
    bridge: str  # the host's test bridge
    pod_bridge: str  # each node's pod bridge (inside its netns)
    port: int
    registry_url: str
    nodes: list[MNode] = field(default_factory=list)
    server: subprocess.Popen[bytes] | None = None
    dns: subprocess.Popen[bytes] | None = None
    agent_args: list[str] = field(default_factory=list)
    proxy: bool = True
    namespaces: list[str] = field(default_factory=list)
    server_args: list[str] = field(default_factory=list)
    join: bool = False  # agents join with `--server URL --token` (their own node credential)

    @property
    def host_ip(self) -> str:
        return f"{self.subnet}.1"

    @property
    def data_dir(self) -> Path:
        return self.base / "server"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    # ---- API ----
    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base / "home"),
               "KUBECONFIG": str(self.kubeconfig)}
        p = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def get(self, *args: str) -> Any:
        """`kubectl get ARGS -o json` → the object (None when not found)."""
        p = self.kubectl("get", *args, "-o", "json", check=False)
        if p.returncode != 0:
            if "NotFound" in p.stderr or "not found" in p.stderr:
                return None
            raise AssertionError(p.stderr)
        return orjson.loads(p.stdout)

    def create(self, *objs: dict[str, Any], ns: str | None = None) -> None:
        docs = "\n".join(orjson.dumps(o).decode() for o in objs)
        self.kubectl(*(["-n", ns] if ns else []), "create", "-f", "-", input=docs)

    def new_namespace(self, labels: dict[str, str] | None = None) -> str:
        name = "mn-" + secrets.token_hex(4)
        self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
        self.namespaces.append(name)
        wait_for(lambda: self.get("-n", name, "serviceaccount", "default"), 30, f"default ServiceAccount in {name}")
        return name

    def wait_pod(self, ns: str, name: str, pred: Callable[[Pod], object], timeout: float = 120,
                 what: str = "condition") -> Pod:
        last: list[Any] = [None]

        def check() -> Any:
            last[0] = self.get("-n", ns, "pod", name)
            return last[0] if last[0] is not None and pred(last[0]) else None
        try:
            return wait_for(check, timeout, f"pod {ns}/{name}: {what}")  # type: ignore[no-any-return]
        except AssertionError as e:
            status = orjson.dumps((last[0] or {}).get("status"), option=orjson.OPT_INDENT_2).decode()
            raise AssertionError(f"{e}\nlast status:\n{status}\n{self.logs_tail()}") from None

    def exec(self, ns: str, pod: str, *cmd: str, check: bool = True, timeout: float = 60) -> str:
        return self.kubectl("-n", ns, "exec", pod, "--", *cmd, check=check, timeout=timeout).stdout

    def logs_tail(self, n: int = 20) -> str:
        out = []
        for node in self.nodes:
            with contextlib.suppress(OSError):
                lines = node.agent_log.read_text(errors="replace").splitlines()[-n:]
                out.append(f"---- {node.name} agent ----\n" + "\n".join(lines))
        return "\n".join(out)

    # ---- node processes ----
    @property
    def server_url(self) -> str:
        return f"https://{self.host_ip}:{self.port}"

    def agent_argv(self, node: MNode) -> list[str]:
        if self.join:  # a join token and nothing else: the agent bootstraps its own node certificate
            creds = ["--server", self.server_url, "--token", (self.data_dir / "token").read_text().strip(),
                     "--network-policy-kubeconfig", str(self.kubeconfig)]
        else:
            creds = ["--kubeconfig", str(self.kubeconfig)]
        return ["agent", *creds, "--node-name", node.name,
                "--data-dir", str(node.data_dir), "--registry-config", str(self.base / "registries.yaml"),
                "--bridge", self.pod_bridge, "--runtime-state-dir", str(node.state_dir),
                "--cgroup-root", node.cgroup_root, "--sync-frequency", "5", "--log-level", "info",
                "--address", node.ip, "--port", "10250", "--node-ip", node.ip, "--cluster-cidr", CLUSTER_CIDR,
                "--cluster-dns", DNS_VIP, "--enable-network-policy", *self.agent_args]

    def start_agent(self, i: int, timeout: float = 90) -> None:
        node = self.nodes[i]
        assert node.agent is None or node.agent.poll() is not None
        node.agent_starts += 1
        mark = f"---- agent start #{node.agent_starts} ----"
        with open(node.agent_log, "ab") as f:
            f.write((mark + "\n").encode())
        node.agent = _tug(self.agent_argv(node), node.agent_log, netns=node.netns)
        _wait_log(node.agent, node.agent_log, "registered (runtime", timeout, since=mark)

    def stop_agent(self, i: int, sig: int = signal.SIGTERM) -> None:
        _stop(self.nodes[i].agent, sig)

    def restart_server(self, sig: int = signal.SIGKILL) -> None:
        """Stop `tug server` (by default as a crash would) and start it again on the same data."""
        _stop(self.server, sig)
        _start_server(self, self.server_args)

    def start_proxy(self, i: int) -> None:
        node = self.nodes[i]
        with open(node.proxy_log, "ab") as f:
            f.write(b"---- proxy start ----\n")
        argv = ["proxy", "--kubeconfig", str(self.kubeconfig), "--node-name", node.name, "--netns", node.netns,
                "--cluster-cidr", CLUSTER_CIDR, "--service-cidr", SERVICE_CIDR, "--log-level", "info"]
        if i > 0:
            argv.append("--no-servicelb")  # one ServiceLB writer for the cluster
        node.proxy = _tug(argv, node.proxy_log)
        _wait_log(node.proxy, node.proxy_log, "rules in sync", 60, since="---- proxy start ----")

    def stop_proxy(self, i: int, sig: int = signal.SIGTERM) -> None:
        _stop(self.nodes[i].proxy, sig)

    def cut_off(self, i: int) -> None:
        """Node i loses its link: no heartbeats reach the server, no traffic reaches its pods."""
        sh("ip", "link", "set", self.nodes[i].host_veth, "down")

    def reconnect(self, i: int) -> None:
        sh("ip", "link", "set", self.nodes[i].host_veth, "up")

    def pod_cidr(self, i: int) -> str:
        node = self.get("node", self.nodes[i].name) or {}
        return str((node.get("spec") or {}).get("podCIDR") or "")

    def routes(self, i: int) -> str:
        return self.nodes[i].in_ns("ip", "-4", "route", "show")


def wait_for(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        res = fn()
        if res:
            return res
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout}s (last: {res!r})")
        time.sleep(0.3)


def _setup_host(c: MultiNode, n: int) -> None:
    sh("ip", "link", "add", c.bridge, "type", "bridge")
    sh("ip", "addr", "add", f"{c.host_ip}/24", "dev", c.bridge)
    sh("ip", "link", "set", c.bridge, "up")
    sh("iptables", "-w", "5", "-I", "FORWARD", "1", *_host_rule(c))
    for i in range(n):
        node = MNode(index=i, name=f"tgmn-{c.tag}-{i}", netns=f"tgmn{c.tag}-{i}", ip=f"{c.subnet}.{10 + i}",
                     host_veth=f"tgv{c.tag}{i}", base=c.base / f"node{i}",
                     state_dir=Path("/run/tugboat-e2e") / f"mn-{c.tag}-{i}", cgroup_root=f"tugboat-mn-{c.tag}-{i}")
        node.base.mkdir(parents=True)
        c.nodes.append(node)
        sh("ip", "netns", "add", node.netns)
        sh("ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
        sh("ip", "link", "set", node.host_veth, "master", c.bridge, "up")
        for cmd in (["addr", "add", f"{node.ip}/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                    ["link", "set", "lo", "up"]):
            sh("ip", "-n", node.netns, *cmd)
        node.in_ns("sysctl", "-qw", "net.ipv4.ip_forward=1")


def _host_rule(c: MultiNode) -> list[str]:
    return ["-i", c.bridge, "-o", c.bridge, "-m", "comment", "--comment", f"tugboat multinode {c.tag}", "-j", "ACCEPT"]


def _start_server(c: MultiNode, server_args: Sequence[str]) -> None:
    (c.base / "home").mkdir(exist_ok=True)
    c.server = _tug(["server", "--data-dir", str(c.data_dir), "--port", str(c.port), "--bind-address", c.host_ip,
                     "--no-agent", "--cluster-cidr", CLUSTER_CIDR, *server_args], c.base / "server.log")

    def ready() -> bool:
        assert c.server is not None
        if c.server.poll() is not None:
            raise RuntimeError(f"tug server exited:\n{(c.base / 'server.log').read_text()[-3000:]}")
        if not c.kubeconfig.exists():
            return False
        p = c.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
        return p.returncode == 0 and "ok" in p.stdout
    wait_for(ready, 60, "tug server ready")


def _start_dns(c: MultiNode) -> None:
    from tugboat.dns.manifests import kube_dns_manifests

    log = c.base / "dns.log"
    # upstream: a loopback port nothing listens on (non-cluster names fail fast; never a real resolver)
    c.dns = _tug(["dns", "--kubeconfig", str(c.kubeconfig), "--listen", f"{c.host_ip}:53",
                  "--upstream", f"127.0.0.1:{free_port()}"], log)
    _wait_log(c.dns, log, "tug dns: serving", 30)
    objs = kube_dns_manifests(DNS_VIP, node_ip=c.host_ip)
    # the server deploys the selector-less kube-dns Service itself (its dns addon): add ours only if absent
    if c.get("-n", "kube-system", "service", "kube-dns") is None:
        c.create(*[o for o in objs if o["kind"] == "Service"])
    c.create(*[o for o in objs if o["kind"] != "Service"])


@contextlib.contextmanager
def multi_node(n: int = 2, *, agent_args: Sequence[str] = (), server_args: Sequence[str] = (),
               proxy: bool = True, dns: bool = True, join: bool = False) -> Iterator[MultiNode]:
    """`agent_args`/`server_args`: extra flags (last, so they win). `proxy`: a `tug proxy` per
    node; `dns`: `tug dns` + the kube-dns Service (needs `proxy`). `join`: agents join with
    the server's join token instead of the admin kubeconfig."""
    reason = multinode_skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.support.registry import push_busybox, running_registry

    lt = LoopThread()
    reg_cm = running_registry()
    base = Path(tempfile.mkdtemp(prefix="tug-multinode-"))
    tag = secrets.token_hex(3)
    subnet = _free_subnet()
    c = MultiNode(base=base, subnet=subnet, tag=tag, bridge=f"tgb{tag}", pod_bridge=f"tgp{tag}", port=free_port(),
                  registry_url="", agent_args=list(agent_args), proxy=proxy, server_args=list(server_args),
                  join=join)
    forwarder: asyncio.AbstractServer | None = None
    failures: list[str] = []
    try:
        reg = lt.run(reg_cm.__aenter__())
        lt.run(push_busybox(reg, "library/busybox:latest",
                            extra_files={"var/www/index.html": "hello from busybox httpd\n"}))
        _setup_host(c, n)
        fport = free_port()
        rhost, rport = reg.host.rsplit(":", 1)
        forwarder = lt.run(_forward(c.host_ip, fport, (rhost, int(rport))))
        c.registry_url = f"http://{c.host_ip}:{fport}"
        (base / "registries.yaml").write_text(f'mirrors:\n  docker.io:\n    endpoint: ["{c.registry_url}"]\n')
        _start_server(c, c.server_args)
        for i in range(n):
            c.start_agent(i)
        for i in range(n):
            c.nodes[i].pod_cidr = wait_for(lambda i=i: c.pod_cidr(i), 60, f"podCIDR of node {i}")  # type: ignore[misc]
            if proxy:
                c.start_proxy(i)
        if dns and proxy:
            _start_dns(c)
        yield c
    finally:
        try:
            failures += _teardown(c)
        finally:
            if forwarder is not None:
                forwarder.close()
                with contextlib.suppress(Exception):
                    lt.run(forwarder.wait_closed(), timeout=10)
            with contextlib.suppress(Exception):
                lt.run(reg_cm.__aexit__(None, None, None), timeout=30)
            lt.close()
            shutil.rmtree(base, ignore_errors=True)
    if failures:
        raise AssertionError("the multi-node cluster left things on the host:\n" + "\n".join(failures))


def _teardown(c: MultiNode) -> list[str]:
    out: list[str] = []
    try:
        for node in c.nodes:  # pods need reachable agents to be torn down
            with contextlib.suppress(Exception):
                c.reconnect(node.index)
        if c.server is not None and c.server.poll() is None and any(
                nd.agent and nd.agent.poll() is None for nd in c.nodes):
            # workloads first, or their controllers bring the pods back
            c.kubectl("delete", "hpa,cronjobs,jobs,deployments,replicasets,statefulsets,daemonsets", "--all", "-A",
                      "--wait=false", check=False)
            c.kubectl("delete", "pods", "--all", "-A", "--wait=false", check=False)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not ((c.get("pods", "-A") or {}).get("items")), 150, "all pods gone")
        for node in c.nodes:
            _stop(node.proxy)
        _stop(c.dns)
        for node in c.nodes:
            _stop(node.agent)
    finally:
        for node in c.nodes:
            out += _cleanup_node(node, c)
        _stop(c.server)
        for node in c.nodes:
            sh("ip", "netns", "del", node.netns, check=False)
            # the netns lives on while a process is in it (an exiting shim): drop the veth pair now
            sh("ip", "link", "del", node.host_veth, check=False)
        sh("ip", "link", "del", c.bridge, check=False)
        while subprocess.run(["iptables", "-w", "5", "-D", "FORWARD", *_host_rule(c)],
                             capture_output=True).returncode == 0:
            pass
    out += _host_leftovers(c)
    return out


def _cleanup_node(node: MNode, c: MultiNode) -> list[str]:
    """In the node's netns: list what the agent left, remove everything, list again."""
    spec = {"base": str(node.base), "data_dir": str(node.data_dir), "state_dir": str(node.state_dir),
            "runtime_dir": str(node.data_dir / "runtime"), "runc_root": str(node.state_dir / "runc"),
            "bridge": c.pod_bridge, "pod_cidr": node.pod_cidr or c.pod_cidr(node.index) or "10.244.255.0/24", "cgroup_root": node.cgroup_root}
    if not os.path.exists(f"/run/netns/{node.netns}"):
        return [f"{node.name}: netns {node.netns} missing before cleanup"]
    p = subprocess.run(["nsenter", f"--net=/run/netns/{node.netns}", "--", sys.executable, "-m",
                        "tests.e2e.multinode", json.dumps(spec)], capture_output=True, text=True, cwd=str(REPO),
                       timeout=300)
    shutil.rmtree(node.state_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        node.state_dir.parent.rmdir()
    if p.returncode != 0:
        return [f"{node.name}: cleanup failed: {p.stderr[-2000:]}"]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    out = [f"{node.name}: left by the agent: {x}" for x in res["before"]
           if not x.startswith(("link ", "iptables", "cgroup root"))]
    return out + [f"{node.name}: left even after forced cleanup: {x}" for x in res["after"]]


def _host_leftovers(c: MultiNode) -> list[str]:
    out = [f"netns {nd.netns}" for nd in c.nodes if os.path.exists(f"/run/netns/{nd.netns}")]
    links = sh("ip", "-o", "link", "show")
    out += [f"link {x}" for x in (c.bridge, *(nd.host_veth for nd in c.nodes)) if f": {x}:" in links or
            f": {x}@" in links]
    rules = sh("iptables", "-w", "5", "-S", "FORWARD")
    out += [f"host rule {r}" for r in rules.splitlines() if f"multinode {c.tag}" in r]
    return out


def _cleanup_main(spec: dict[str, Any]) -> None:
    """Child process (inside a node's netns): leftovers → forced cleanup → leftovers, as JSON."""
    from tests.e2e.realnode import _cgroup_hierarchies, _force_cleanup
    from tugboat.node.runtime.runc_hostcheck import leftovers

    node = SimpleNamespace(**{k: Path(v) if k in ("base", "data_dir", "state_dir", "runtime_dir") else v
                              for k, v in spec.items()})
    sandbox_dir = Path(spec["runtime_dir"]) / "sandboxes"
    ids = [p.name for p in sandbox_dir.glob("*")] if sandbox_dir.is_dir() else []

    def check() -> list[str]:
        found = leftovers(dirs=[spec["base"], spec["state_dir"]], sandbox_ids=ids, bridge=spec["bridge"],
                          network_name="tugboat", cgroup_root=spec["cgroup_root"], runc_root=spec["runc_root"])
        return found + [f"cgroup root {h / spec['cgroup_root']}" for h in _cgroup_hierarchies()
                        if (h / spec["cgroup_root"]).exists()]
    before = check()
    asyncio.run(_force_cleanup(node))  # type: ignore[arg-type]
    print(json.dumps({"before": before, "after": check()}))


if __name__ == "__main__":
    _cleanup_main(json.loads(sys.argv[1]))
