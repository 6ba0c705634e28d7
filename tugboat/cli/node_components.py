"""The node half of `tug server`: the local agent, service proxy and DNS.

`tug server` alone is a control plane; with this it is a one-command single-node cluster, as
k3s is. The three parts run in ONE supervised `tug node-services` process (they are idle most
of the time and share the interpreter, aiohttp and TLS libraries: ≈ 80 MB less than three
processes), apart from the API server and the components, which keep their own processes and
cores; `--separate-agent-process` gives the agent its own again. Each part keeps its own
client certificate:
- the agent as `system:node:<name>` (O=`system:nodes`), data in DATA_DIR/agent, image mirrors
  from DATA_DIR/registries.yaml when present, `--cluster-dns 10.96.0.10`;
- the proxy as `system:kube-proxy`, with the server's cluster CIDR;
- the DNS server listening on the pod bridge's gateway (the first address of the node's
  podCIDR — the node address every pod can reach), behind the kube-dns Service whose
  EndpointSlice points there (tugboat.dns.manifests).

DNS waits for the node-IPAM controller to give the Node its podCIDR; the server then creates
the bridge with the gateway address (the CNI bridge plugin adopts it) and the DNS part binds
there as soon as the address exists, so DNS serves before the first pod exists. On shutdown
the children are stopped by pid and — unless the workloads are to keep running — every pod
sandbox, container, mount, cgroup, bridge and rule of the node is removed with the runtime's
own code (the agent alone leaves containers running for a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tugboat.cli.supervise import Supervisor

DNS_VIP = "10.96.0.10"
SERVICE_CIDR = "10.96.0.0/12"
RUNC = "/usr/sbin/runc"
CNI_BIN = "/usr/lib/cni"
NODE_PARTS = ("agent", "proxy", "dns")
# part → (kubeconfig stem, certificate CN, certificate O); the agent's CN carries the node name
IDENTITIES = {"proxy": ("proxy", "system:kube-proxy", None), "dns": ("dns", "system:tug-dns", None)}


def missing_prerequisite() -> str:
    """Why this host cannot run a node ('' when it can)."""
    if os.geteuid() != 0:
        return "not running as root"
    if not os.path.exists(RUNC):
        return f"runc not found at {RUNC} (apt-get install runc)"
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        if not os.path.exists(os.path.join(CNI_BIN, plugin)):
            return f"CNI plugin {plugin} missing in {CNI_BIN} (apt-get install containernetworking-plugins)"
    for tool in ("iptables", "ip", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


@dataclass
class NodeConfig:
    data: Path  # the server's data dir
    node_name: str = ""
    cluster_cidr: str = "10.244.0.0/16"
    bridge: str = "tug0"
    cgroup_root: str = "tugboat"
    runtime_state_dir: str = "/run/tugboat/runc"
    keep_workloads: bool = False
    log_level: str = "info"
    agent_args: list[str] = field(default_factory=list)  # passed through, last (they win)
    proxy_args: list[str] = field(default_factory=list)
    dns_args: list[str] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    registry_config: str = ""  # registries.yaml for the agent (default: DATA_DIR/registries.yaml if present)
    separate_agent: bool = False  # the agent in its own process (else inside `tug node-services`)

    def __post_init__(self) -> None:
        self.node_name = self.node_name or socket.gethostname().lower()

    @property
    def agent_dir(self) -> Path:
        return self.data / "agent"


def gateway_of(pod_cidr: str) -> tuple[str, int]:
    net = ipaddress.ip_network(pod_cidr, strict=False)
    return str(next(net.hosts())), net.prefixlen


def _tug(*args: str) -> list[str]:
    return [sys.executable, "-m", "tugboat.cli.main", *args]


def write_identities(cfg: NodeConfig, pki: Any, server_url: str) -> dict[str, Path]:
    """Client certificate + kubeconfig of each node part, like the components' ones."""
    ids = {"agent": (f"node-{cfg.node_name}", f"system:node:{cfg.node_name}", "system:nodes"), **IDENTITIES}
    out = {}
    for part, (stem, cn, org) in ids.items():
        pki.client_cert(stem, cn, org)
        path = cfg.data / f"{stem}.kubeconfig"
        pki.write_kubeconfig(path, server_url, stem)
        out[part] = path
    return out


def agent_argv(cfg: NodeConfig, kubeconfig: Path) -> list[str]:
    argv = _tug("agent", "--kubeconfig", str(kubeconfig), "--node-name", cfg.node_name,
                "--data-dir", str(cfg.agent_dir), "--bridge", cfg.bridge, "--cgroup-root", cfg.cgroup_root,
                "--runtime-state-dir", cfg.runtime_state_dir, "--cluster-dns", DNS_VIP,
                "--cluster-cidr", cfg.cluster_cidr, "--enable-network-policy", "--log-level", cfg.log_level)
    reg = Path(cfg.registry_config) if cfg.registry_config else cfg.data / "registries.yaml"
    if reg.exists():
        argv += ["--registry-config", str(reg)]
    return argv + cfg.agent_args


def proxy_argv(cfg: NodeConfig, kubeconfig: Path) -> list[str]:
    return _tug("proxy", "--kubeconfig", str(kubeconfig), "--node-name", cfg.node_name,
                "--cluster-cidr", cfg.cluster_cidr, "--service-cidr", SERVICE_CIDR,
                "--log-level", cfg.log_level) + cfg.proxy_args


def dns_argv(cfg: NodeConfig, kubeconfig: Path, gateway: str) -> list[str]:
    """`tug dns …` (`gateway` may be `node-gateway`: resolved inside `tug node-services`)."""
    argv = _tug("dns", "--kubeconfig", str(kubeconfig), "--listen", f"{gateway}:53", "--log-level", cfg.log_level)
    if Path("/etc/resolv.conf").exists():
        argv += ["--upstream", "/etc/resolv.conf"]
    return argv + cfg.dns_args


def node_services_argv(cfg: NodeConfig, kubeconfigs: dict[str, Path], *, with_dns: bool,
                       with_agent: bool = False) -> list[str]:
    """One `tug node-services` process for the agent (`with_agent`), proxy and DNS ([] when all
    are off). Its DNS part listens on the node's pod gateway, found through the proxy identity
    (which may GET Nodes)."""
    n = len(_tug())
    segments = [agent_argv(cfg, kubeconfigs["agent"])[n:]] if with_agent else []
    if "proxy" not in cfg.disabled:
        segments.append(proxy_argv(cfg, kubeconfigs["proxy"])[n:])
    if with_dns:
        segments.append(dns_argv(cfg, kubeconfigs["dns"], "node-gateway")[n:])
    if not segments:
        return []
    argv = _tug("node-services", "--node-kubeconfig", str(kubeconfigs["proxy"]), "--log-level", cfg.log_level)
    for i, seg in enumerate(segments):
        argv += (["--and"] if i else []) + seg
    return argv


async def _run(*argv: str) -> int:
    p = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                             stderr=asyncio.subprocess.DEVNULL)
    return await p.wait()


async def ensure_gateway(bridge: str, pod_cidr: str) -> str:
    """The pod bridge with its gateway address (what the CNI bridge plugin would create with
    the first pod), so the DNS server can listen there at once."""
    gw, prefix = gateway_of(pod_cidr)
    if not os.path.exists(f"/sys/class/net/{bridge}"):
        await _run("ip", "link", "add", "name", bridge, "type", "bridge")
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge], capture_output=True, text=True).stdout
    if f" {gw}/" not in out:
        await _run("ip", "addr", "add", f"{gw}/{prefix}", "dev", bridge)
    await _run("ip", "link", "set", bridge, "up")
    return gw


async def wait_pod_cidr(client: Any, node_name: str, stop: asyncio.Event) -> str:
    """The Node's spec.podCIDR once the agent registered and node IPAM assigned one."""
    while not stop.is_set():
        with contextlib.suppress(Exception):  # not registered yet (404), or a transient error
            node = await client.request("GET", f"/api/v1/nodes/{node_name}")
            cidr = str((node.get("spec") or {}).get("podCIDR") or "")
            if cidr:
                return cidr
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    return ""


async def put_dns_manifests(client: Any, gateway: str, node_name: str) -> None:
    """Create (or point at this gateway) kube-system/kube-dns: Service, EndpointSlice, Endpoints."""
    from tugboat.client import is_already_exists
    from tugboat.dns.manifests import kube_dns_manifests

    paths = {"Service": "/api/v1/namespaces/kube-system/services",
             "EndpointSlice": "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
             "Endpoints": "/api/v1/namespaces/kube-system/endpoints"}
    for obj in kube_dns_manifests(DNS_VIP, node_ip=gateway, node_name=node_name):
        base = paths[obj["kind"]]
        try:
            await client.request("POST", base, body=obj)
        except Exception as e:
            if not is_already_exists(e):
                raise
            if obj["kind"] == "Service":
                continue  # clusterIP is immutable; the Service is the same every start
            cur = await client.request("GET", f"{base}/{obj['metadata']['name']}")
            obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            await client.request("PUT", f"{base}/{obj['metadata']['name']}", body=obj)


async def remove_workloads(cfg: NodeConfig, pod_cidr: str) -> None:
    """Stop and remove every pod of the node (after the agent stopped), then the node's
    network (bridge, rules, IPAM state), its cgroup tree and any mount left under the agent dir."""
    from tugboat.node.images.service import LocalImageService
    from tugboat.node.network.pod_network import PodNetwork
    from tugboat.node.runtime import _cgroups
    from tugboat.node.runtime.runc import RuncRuntime

    images = LocalImageService(str(cfg.agent_dir / "images"))
    net = PodNetwork(pod_cidr, bridge=cfg.bridge, conf_dir=str(cfg.agent_dir / "cni")) if pod_cidr else None
    try:
        rt = RuncRuntime(images, root_dir=str(cfg.agent_dir / "runtime"), state_dir=cfg.runtime_state_dir,
                         network=net, cgroup_root=cfg.cgroup_root)
        for c in await rt.list_containers():
            with contextlib.suppress(Exception):
                await rt.remove_container(c.id)
        for sb in await rt.list_sandboxes():
            with contextlib.suppress(Exception):
                await rt.remove_sandbox(sb.id)
        if net is not None:
            await net.destroy()
        elif os.path.exists(f"/sys/class/net/{cfg.bridge}"):
            await _run("ip", "link", "del", cfg.bridge)
        _cgroups.remove_tree("/" + cfg.cgroup_root)
    finally:
        await images.close()
    prefix = str(cfg.agent_dir) + "/"
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for m in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        await _run("umount", "-l", m)


class LocalNode:
    """Start/stop the node parts of `tug server` (`start` returns at once; DNS follows the podCIDR)."""

    def __init__(self, cfg: NodeConfig, pki: Any, server_url: str, admin_kubeconfig: Path,
                 on_dns_gateway: Callable[[str], Awaitable[None]] | None = None):
        self.cfg = cfg
        self.on_dns_gateway = on_dns_gateway  # publishes kube-dns (the manifests add-on); else POSTed here
        self.dns_gateway = ""
        self.pki = pki
        self.server_url = server_url
        self.admin_kubeconfig = admin_kubeconfig
        self.children: dict[str, Supervisor] = {}
        self.pod_cidr = ""
        self._stop = asyncio.Event()
        self._dns_task: asyncio.Task[None] | None = None

    def _child(self, name: str, argv: list[str]) -> None:
        sup = Supervisor(name, argv, log_path=self.cfg.data / f"{name}.log", grace=30.0)
        sup.start()
        self.children[name] = sup

    def start(self) -> None:
        cfg = self.cfg
        kcs = write_identities(cfg, self.pki, self.server_url)
        agent = "agent" not in cfg.disabled
        if agent:
            cfg.agent_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if agent and cfg.separate_agent:
            self._child("agent", agent_argv(cfg, kcs["agent"]))
            print(f"tug: node agent starting for node {cfg.node_name} (log: {cfg.data / 'agent.log'})", flush=True)
        with_agent = agent and not cfg.separate_agent
        services = node_services_argv(cfg, kcs, with_dns=self._with_dns, with_agent=with_agent)
        if services:
            self._child("node-services", services)
            parts = [p for p, on in ((f"node agent for {cfg.node_name}", with_agent),
                                     ("service proxy", "proxy" not in cfg.disabled), ("DNS", self._with_dns)) if on]
            print(f"tug: node services starting: {' + '.join(parts)} (log: {cfg.data / 'node-services.log'})",
                  flush=True)
        if self._with_dns or "agent" not in cfg.disabled:
            self._dns_task = asyncio.create_task(self._node_network(), name="tug-node-network")

    @property
    def agent_log(self) -> str:
        return "agent.log" if self.cfg.separate_agent else "node-services.log"

    @property
    def _with_dns(self) -> bool:
        return not {"dns", "agent"} & self.cfg.disabled

    async def _node_network(self) -> None:
        """Wait for the podCIDR (needed by the shutdown cleanup too), then put the gateway on the
        bridge and publish kube-dns; the DNS part of node-services binds there once it exists."""
        from tugboat.client import Client, load_kubeconfig

        client = Client(load_kubeconfig(str(self.admin_kubeconfig)), component="tug-server")
        try:
            self.pod_cidr = await wait_pod_cidr(client, self.cfg.node_name, self._stop)
            if not self.pod_cidr:
                return
            print(f"tug: node {self.cfg.node_name} has pod CIDR {self.pod_cidr}", flush=True)
            if not self._with_dns:
                return
            gw = await ensure_gateway(self.cfg.bridge, self.pod_cidr)
            if self.on_dns_gateway is not None:
                await self.on_dns_gateway(gw)
            else:
                await put_dns_manifests(client, gw, self.cfg.node_name)
            self.dns_gateway = gw
            print(f"tug: cluster DNS starting on {gw}:53 (Service kube-system/kube-dns {DNS_VIP})", flush=True)
        except Exception as e:  # noqa: BLE001 - the server keeps running without DNS
            print(f"tug: cluster DNS not started: {e}", flush=True)
        finally:
            await client.close()

    async def stop(self) -> None:
        self._stop.set()
        if self._dns_task is not None:
            await asyncio.gather(self._dns_task, return_exceptions=True)
        for name in ("node-services", "agent"):
            if name in self.children:
                await self.children[name].stop()
        if "agent" not in self.cfg.disabled and self.children and not self.cfg.keep_workloads:
            print("tug: removing the node's pods (use --keep-workloads to leave them running)", flush=True)
            try:
                await remove_workloads(self.cfg, self.pod_cidr)
            except Exception as e:  # noqa: BLE001 - report, and go on shutting down
                print(f"tug: removing workloads failed: {e}", flush=True)
