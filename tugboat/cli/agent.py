"""`tug agent`: run the node agent for this host, or N simulated (hollow) nodes in one process.

    tug agent --kubeconfig FILE [--node-name NAME] [--data-dir DIR] [--registry-config FILE]
    tug agent --simulate N --kubeconfig FILE [--node-prefix P] [--capacity cpu=8,memory=32Gi,…]
              [--labels k=v,…]

Simulated nodes share one client and one pod + one node informer (AgentSources), renew their
leases spread over the 10 s interval, and use the simulated runtime: thousands fit in one
process. The real node imports the runc runtime, image store and CNI networking lazily, so the
simulated mode works on machines without runc.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import socket
from typing import Any

log = logging.getLogger("tug.agent")


def _default_data_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/tugboat/agent"
    return os.path.join(os.path.expanduser("~"), ".local/share/tugboat/agent")


def parse_kv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep or not k:
            raise argparse.ArgumentTypeError(f"expected key=value, got {part!r}")
        out[k.strip()] = v.strip()
    return out


def parse_taints(text: str) -> list[dict[str, str]]:
    """`key=value:Effect,key2:Effect` as kubelet's --register-with-taints."""
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        kv, _, effect = part.rpartition(":")
        k, _, v = kv.partition("=")
        taint = {"key": k, "effect": effect}
        if v:
            taint["value"] = v
        out.append(taint)
    return out


def add_agent_parser(sub: Any) -> argparse.ArgumentParser:
    a: argparse.ArgumentParser = sub.add_parser("agent", help="run the node agent (or simulated nodes)")
    a.add_argument("--kubeconfig", default="", help="credentials to use (default: join with --server/--token)")
    a.add_argument("--server", action="append", default=[], metavar="URL",
                   help="API server to join / fail over to (repeat for every server of an HA control plane)")
    a.add_argument("--token", default="", help="join token K10<ca-hash>::<id>.<secret> (`tug token create`)")
    a.add_argument("--node-name", default="")
    a.add_argument("--data-dir", default=_default_data_dir())
    a.add_argument("--registry-config", default="", help="registries.yaml (k3s format)")
    a.add_argument("--pod-cidr", default="", help="use this pod CIDR instead of waiting for the Node's podCIDR")
    a.add_argument("--bridge", default="tug0", help="name of the pod bridge (at most 15 characters)")
    a.add_argument("--runtime-state-dir", default="/run/tugboat/runc",
                   help="runc's state (tmpfs): one per agent on a host")
    a.add_argument("--cgroup-root", default="tugboat", help="cgroup under which pod cgroups are created")
    a.add_argument("--sync-frequency", type=float, default=60.0,
                   help="seconds between periodic syncs of each pod (refreshes ConfigMap/Secret volumes; upstream 60)")
    a.add_argument("--cluster-dns", default="", help="comma-separated DNS server IPs for ClusterFirst pods")
    a.add_argument("--cluster-domain", default="cluster.local")
    a.add_argument("--simulate", type=int, default=0, metavar="N", help="run N simulated nodes")
    a.add_argument("--node-prefix", default="tug-sim-")
    a.add_argument("--capacity", type=parse_kv, default={}, help="cpu=8,memory=32Gi,pods=110,nvidia.com/gpu=1")
    a.add_argument("--labels", type=parse_kv, default={})
    a.add_argument("--taints", type=parse_taints, default=[], help="key=value:NoSchedule,…")
    a.add_argument("--qps", type=float, default=0.0, help="client QPS (default: 50, or N for simulated)")
    a.add_argument("--node-lease-duration-seconds", type=int, default=40,
                   help="the node Lease's duration; it is renewed every quarter of it (upstream 40)")
    a.add_argument("--log-level", default="info")
    a.add_argument("--port", type=int, default=10250, help="the agent's HTTPS port (logs, exec, port-forward)")
    a.add_argument("--address", default="0.0.0.0", help="address the agent's HTTPS server listens on")
    a.add_argument("--node-ip", default="", help="the Node's InternalIP, which the API server dials for logs/exec "
                   "(upstream kubelet's --node-ip; default: the host's outbound address)")
    a.add_argument("--flannel-backend", default="host-gw", choices=["host-gw", "none"],
                   help="pod routes to other nodes: host-gw (a route per node podCIDR via its InternalIP) or none")
    a.add_argument("--cluster-cidr", default="", help="the pod network: with host-gw, an unreachable route for it "
                   "keeps packets for unknown pod subnets on this host")
    a.add_argument("--enable-network-policy", action="store_true",
                   help="enforce NetworkPolicies for this node's pods (iptables, TUGBOAT-NETPOL-* chains)")
    a.add_argument("--network-policy-kubeconfig", default="",
                   help="credentials for the policy enforcer (it lists namespaces and NetworkPolicies, which a "
                   "node identity may not; k3s gives kube-router its own identity too); default: the agent's")
    return a


def _sim_fallback_cidr(i: int) -> str:
    """A private /24 per simulated node for when no IPAM controller sets podCIDRs."""
    base = int(ipaddress.ip_address("10.128.0.0"))
    return str(ipaddress.ip_network((base + (i % 32768) * 256, 24)))


def _sim_node_ip(i: int) -> str:
    return str(ipaddress.ip_address(int(ipaddress.ip_address("100.64.0.0")) + 1 + i))


async def run_simulated(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from tugboat.client import Client, load_kubeconfig
    from tugboat.client.clock import RealClock
    from tugboat.node.agent import NodeAgent
    from tugboat.node.runtime.simulated import SimulatedRuntime
    from tugboat.node.sources import AgentSources

    n = args.simulate
    qps = args.qps or max(50.0, float(n))
    config = load_kubeconfig(args.kubeconfig)
    client = Client(config, component="tug-agent-sim", qps=qps, burst=int(qps * 2))
    # Heartbeats get their own connection pool and rate budget (one renewal per node per interval).
    heartbeats = Client(config, component="tug-agent-sim-lease", qps=max(20.0, n / 2), burst=max(40, n))
    clock = RealClock()
    sources = AgentSources(client)
    sources.start()
    await sources.wait_for_sync()
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi", **args.capacity}
    agents = []
    for i in range(n):
        name = f"{args.node_prefix}{i}"
        rt = SimulatedRuntime(clock, fallback_cidr=_sim_fallback_cidr(i), node_name=name)
        agents.append(NodeAgent(client, rt, node_name=name, data_dir=os.path.join(args.data_dir, name), clock=clock,
                                capacity=dict(capacity), labels=dict(args.labels), taints=list(args.taints),
                                cluster_dns=[s for s in args.cluster_dns.split(",") if s],
                                cluster_domain=args.cluster_domain, sources=sources, host_ip=_sim_node_ip(i),
                                lease_jitter=True, resync_interval=600.0, status_interval=10.0,
                                lease_duration=args.node_lease_duration_seconds, heartbeat_client=heartbeats))
    sem = asyncio.Semaphore(64)

    async def start(a: NodeAgent) -> None:
        async with sem:
            await a.start()
    await asyncio.gather(*(start(a) for a in agents))
    print(f"tug agent: {n} simulated nodes registered ({args.node_prefix}0 … {args.node_prefix}{n - 1})", flush=True)
    from tugboat.cli.apiservers import ServerList

    server_list = ServerList(client)  # every live API server, for failover (shared config)
    server_list.start()
    await stop.wait()
    await server_list.stop()
    await asyncio.gather(*(a.stop() for a in agents), return_exceptions=True)
    await sources.stop()
    await client.close()
    await heartbeats.close()
    return 0


async def _joined_mirror(args: argparse.Namespace, client: Any, data: str) -> str:
    """A joined agent without --registry-config uses the server's shared registry, if any."""
    if not args.server:
        return ""
    from pathlib import Path

    from tugboat.cli.registry import fetch_mirror

    try:
        got = await fetch_mirror(client, Path(data) / "registries.yaml")
    except Exception as e:  # noqa: BLE001 - pulls then go to the registries named in images
        print(f"tug agent: registry mirror not read: {e}", flush=True)
        return ""
    if got is not None:
        print(f"tug agent: using the server's registry mirror ({got})", flush=True)
    return str(got or "")


async def run_real(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from tugboat.client import Client
    from tugboat.node.agent import NodeAgent
    from tugboat.node.images.service import LocalImageService
    from tugboat.node.network.pod_network import PodNetwork
    from tugboat.node.runtime.runc import RuncRuntime

    name = args.node_name or socket.gethostname().lower()
    data = args.data_dir
    os.makedirs(data, exist_ok=True, mode=0o700)
    from tugboat.node.bootstrap import agent_config

    config = await agent_config(args.kubeconfig, args.server, args.token, data, name)  # joins if needed
    client = Client(config, component="tug-agent", qps=args.qps or 50.0, burst=int((args.qps or 50.0) * 2))
    heartbeats = Client(config, component="tug-agent-lease", qps=5.0, burst=10)
    registry_config = args.registry_config or await _joined_mirror(args, client, data)
    images = LocalImageService(os.path.join(data, "images"), registry_config or None)
    cni_dir = os.path.join(data, "cni")
    # with the cluster CIDR, traffic to other nodes' pods keeps its pod source address (no masquerade)
    cluster_cidr = args.cluster_cidr or None
    network = PodNetwork(args.pod_cidr, conf_dir=cni_dir, bridge=args.bridge,
                         cluster_cidr=cluster_cidr) if args.pod_cidr else None
    runtime = RuncRuntime(images, root_dir=os.path.join(data, "runtime"), network=network,
                          state_dir=args.runtime_state_dir, cgroup_root=args.cgroup_root)
    await runtime.start()

    def on_pod_cidr(cidr: str) -> None:
        if runtime.network is None or (not args.pod_cidr and runtime.network.pod_cidr != cidr):
            runtime.network = PodNetwork(cidr, conf_dir=cni_dir, bridge=args.bridge, cluster_cidr=cluster_cidr)

    agent = NodeAgent(client, runtime, node_name=name, data_dir=data, images=images,
                      cluster_dns=[s for s in args.cluster_dns.split(",") if s], cluster_domain=args.cluster_domain,
                      taints=list(args.taints), labels=dict(args.labels), capacity=args.capacity or None,
                      host_ip=args.node_ip or None,
                      on_pod_cidr=None if args.pod_cidr else on_pod_cidr, resync_interval=args.sync_frequency,
                      lease_duration=args.node_lease_duration_seconds, heartbeat_client=heartbeats)
    from tugboat.node.imagegc import ImageGC
    from tugboat.node.server import AgentServer
    from tugboat.node.server.auth import ssl_context_for_agent

    agent.add_service(ImageGC(images))  # every 5 min, 85 % high / 80 % low as the kubelet
    if args.flannel_backend == "host-gw":
        from tugboat.node.network.hostgw import HostGateway

        agent.add_service(HostGateway(client, name, cluster_cidr=args.cluster_cidr or None))
    if args.enable_network_policy:
        from tugboat.netpol import PolicyEnforcer

        np_client = client
        if args.network_policy_kubeconfig:
            from tugboat.client import load_kubeconfig

            np_client = Client(load_kubeconfig(args.network_policy_kubeconfig), component="tug-agent-netpol")
        agent.add_service(PolicyEnforcer(np_client, name))
    # logs/exec/attach/port-forward/stats for the API server (client certificates only).
    agent.add_service(AgentServer(agent, ssl_context=ssl_context_for_agent(client.config, data, name, [agent.host_ip]),
                                  host=args.address, port=args.port))
    await agent.start()
    print(f"tug agent: node {name} registered (runtime {await runtime.version()})", flush=True)
    from tugboat.cli.apiservers import ServerList

    server_list = ServerList(client)  # every live API server, for failover (heartbeats share the config)
    server_list.start()
    await stop.wait()
    await server_list.stop()
    await agent.stop()
    await client.close()
    await heartbeats.close()
    if args.enable_network_policy and args.network_policy_kubeconfig:
        await np_client.close()
    return 0


async def run_agent(args: argparse.Namespace, stop: asyncio.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set, when given: `tug node-services`)."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    if args.simulate > 0:
        return await run_simulated(args, stop)
    from tugboat.node.bootstrap import BootstrapError

    try:
        return await run_real(args, stop)
    except BootstrapError as e:
        print(f"tug agent: {e}", flush=True)
        return 1
