"""`tug proxy`: run the service proxy (Services → iptables) for this node, or clean up after one.

    tug proxy --kubeconfig FILE [--node-name N] [--hostname-override N] [--service-cidr C]
              [--cluster-cidr C] [--no-servicelb] [--netns NS]
    tug proxy --cleanup [--netns NS]

The node name (for externalTrafficPolicy/internalTrafficPolicy Local) defaults to the host name,
as kube-proxy's --hostname-override does. On SIGTERM/SIGINT the proxy removes its chains, jumps
and host routes (kube-proxy leaves them; `--keep-rules-on-exit` does that here).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from typing import Any

log = logging.getLogger("tug.proxy")


def add_proxy_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("proxy", help="run the service proxy (iptables) for this node")
    p.add_argument("--kubeconfig", default="")
    p.add_argument("--node-name", default="")
    p.add_argument("--hostname-override", default="", help="the same as --node-name (kube-proxy's spelling)")
    p.add_argument("--service-cidr", default="10.96.0.0/12")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16",
                   help="pod network; traffic from outside it to a cluster IP is masqueraded")
    p.add_argument("--masquerade-all", action="store_true")
    p.add_argument("--min-sync-period", type=float, default=1.0)
    p.add_argument("--sync-period", type=float, default=30.0, help="seconds between checks of the live rules")
    p.add_argument("--no-localhost-nodeports", action="store_true", help="do not serve NodePorts on 127.0.0.1")
    p.add_argument("--no-servicelb", action="store_true", help="leave status.loadBalancer to another controller")
    p.add_argument("--no-host-routes", action="store_true", help="do not route the service CIDR (unreachable + lo)")
    p.add_argument("--netns", default="", help="program this named network namespace instead of the host's")
    p.add_argument("--keep-rules-on-exit", action="store_true")
    p.add_argument("--cleanup", action="store_true", help="remove every rule a proxy left behind, then exit")
    p.add_argument("--log-level", default="info")
    return p


async def run_proxy(args: argparse.Namespace, stop: asyncio.Event | None = None) -> int:
    """Sync rules until SIGTERM/SIGINT (or until `stop` is set, when given: `tug node-services`)."""
    from tugboat.proxy import ProxyConfig, ServiceProxy, cleanup_rules
    from tugboat.proxy.hostnet import HostNetwork
    from tugboat.proxy.iptables import Host

    host = Host(args.netns or None)
    if args.cleanup:
        removed = await cleanup_rules(host)
        await HostNetwork(host, args.service_cidr).remove_leftovers()
        print(f"tug proxy: {'removed' if removed else 'no'} service proxy rules", flush=True)
        return 0
    if not args.kubeconfig:
        print("tug proxy: --kubeconfig is required", flush=True)
        return 2
    from tugboat.client import Client, load_kubeconfig

    node = args.hostname_override or args.node_name or socket.gethostname().lower()
    client = Client(load_kubeconfig(args.kubeconfig), component="tug-proxy")
    cfg = ProxyConfig(node_name=node, service_cidr=args.service_cidr, cluster_cidr=args.cluster_cidr,
                      netns=args.netns or None, min_sync_period=args.min_sync_period,
                      resync_period=args.sync_period, localhost_nodeports=not args.no_localhost_nodeports,
                      masquerade_all=args.masquerade_all, host_routes=not args.no_host_routes,
                      servicelb=not args.no_servicelb)
    proxy = ServiceProxy(client, cfg)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        await proxy.start()
        r = proxy.last_sync
        print(f"tug proxy: node {node}: rules in sync ({r.chains_written if r else 0} chains)", flush=True)
        await stop.wait()
    finally:
        await proxy.stop(cleanup=not args.keep_rules_on_exit)
        await client.close()
    return 0
