"""`tug node-services`: the node agent, service proxy and cluster DNS of one node in ONE process.

    tug node-services [--node-kubeconfig FILE] [agent ARGS… --and] proxy ARGS… --and dns ARGS…

Each part is idle almost all the time (the agent's real work runs in runc/CNI child
processes), yet as separate processes each paid the interpreter, aiohttp and a client
(≈ 40 MB RSS apiece, ≈ 1 s of imports when they all start at once on two cores). Together
they share all of that, as k3s's agent runs kubelet and kube-proxy in one process; each part
keeps its own client, identity (`system:node:<name>`, `system:kube-proxy`, `system:tug-dns`)
and informers, and `tug agent` / `tug proxy` / `tug dns` stay usable alone. A segment is
exactly the argv of that command (so `--agent-arg` / `--proxy-arg` / `--dns-arg` pass through
unchanged). One part failing stops the process, and its supervisor restarts it whole.

`--listen node-gateway[:PORT]` (here only) makes DNS listen on the pod-bridge gateway of the
proxy's node: the first address of the Node's podCIDR, once node IPAM assigned it and
`tug server` put the address on the bridge. The proxy's identity may read Nodes; the DNS
one (CoreDNS's role) may not, so the wait uses `--node-kubeconfig` (default: the proxy's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from typing import Any

log = logging.getLogger("tug.node-services")
SEPARATOR = "--and"
NODE_GATEWAY = "node-gateway"
PARTS = ("agent", "proxy", "dns")


def add_parser(sub: Any) -> None:
    n = sub.add_parser("node-services", help="run the service proxy and cluster DNS of a node in one process")
    n.add_argument("--node-kubeconfig", default="", help="kubeconfig that may GET the Node (default: the proxy's)")
    n.add_argument("--log-level", default="info")
    n.add_argument("parts", nargs=argparse.REMAINDER, help="agent ARGS… --and proxy ARGS… --and dns ARGS…")


def split_parts(words: list[str]) -> list[list[str]]:
    """`proxy -a --and dns -b` → [["proxy", "-a"], ["dns", "-b"]] (empty segments dropped)."""
    out: list[list[str]] = [[]]
    for w in words:
        if w == SEPARATOR:
            out.append([])
        else:
            out[-1].append(w)
    return [seg for seg in out if seg]


def parse_parts(words: list[str]) -> dict[str, argparse.Namespace]:
    from tugboat.cli.main import build_parser

    parser = build_parser()
    parts: dict[str, argparse.Namespace] = {}
    for seg in split_parts(words):
        if seg[0] not in PARTS or seg[0] in parts:
            raise SystemExit(f"tug node-services: expected `agent …`, `proxy …`, `dns …` segments, got {seg[0]!r}")
        parts[seg[0]] = parser.parse_args(seg)
    if not parts:
        raise SystemExit("tug node-services: nothing to run (give `agent …`, `proxy …` and/or `dns …`)")
    return parts


def is_local_address(ip: str) -> bool:
    """True once `ip` is assigned to an interface here (binding to it works)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, 0))
        except OSError:
            return False
    return True


async def wait_node_gateway(kubeconfig: str, node_name: str, stop: asyncio.Event) -> str:
    """The gateway of the Node's podCIDR once it exists and is on a local interface ('' if stopped)."""
    from tugboat.cli.node_components import gateway_of, wait_pod_cidr
    from tugboat.client import Client, load_kubeconfig

    client = Client(load_kubeconfig(kubeconfig), component="tug-node-services")
    try:
        cidr = await wait_pod_cidr(client, node_name, stop)
    finally:
        await client.close()
    if not cidr:
        return ""
    gw = gateway_of(cidr)[0]
    while not stop.is_set() and not is_local_address(gw):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    return "" if stop.is_set() else gw


async def _dns(args: argparse.Namespace, node_kubeconfig: str, node_name: str, stop: asyncio.Event) -> int:
    from tugboat.cli.dns import run_dns

    host, _, port = str(args.listen).partition(":")
    if host != NODE_GATEWAY:
        return await run_dns(args, stop)
    args.listen = port or "53"  # the informers sync while the gateway is awaited

    async def gateway() -> str:
        return await wait_node_gateway(node_kubeconfig, node_name, stop)

    return await run_dns(args, stop, listen_on=gateway)


async def run_node_services(args: argparse.Namespace, stop: asyncio.Event | None = None) -> int:
    """Run the parts until SIGTERM/SIGINT (or `stop`), or until one of them fails (rc ≠ 0)."""
    parts = parse_parts(list(args.parts))
    proxy = parts.get("proxy")
    node_name = ""
    node_kc = args.node_kubeconfig
    if proxy is not None:
        node_name = proxy.hostname_override or proxy.node_name or socket.gethostname().lower()
        node_kc = node_kc or proxy.kubeconfig
    if "dns" in parts and str(parts["dns"].listen).startswith(NODE_GATEWAY) and not (node_kc and node_name):
        print("tug node-services: --listen node-gateway needs a `proxy` segment (node name, kubeconfig)",
              file=sys.stderr)
        return 2
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    tasks: dict[str, asyncio.Task[int]] = {}
    if "agent" in parts:
        from tugboat.cli.agent import run_agent

        tasks["agent"] = asyncio.create_task(run_agent(parts["agent"], stop), name="agent")
    if proxy is not None:
        from tugboat.cli.proxy import run_proxy

        tasks["proxy"] = asyncio.create_task(run_proxy(proxy, stop), name="proxy")
    if "dns" in parts:
        tasks["dns"] = asyncio.create_task(_dns(parts["dns"], node_kc, node_name, stop), name="dns")
    # One part failing takes the process down (the supervisor restarts both): a node without
    # its proxy or DNS must not look healthy.
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
    rc = 0
    for name, t in tasks.items():
        if t in done and not stop.is_set():
            exc = t.exception()
            rc = 1 if exc is not None else (t.result() or 1)
            print(f"tug node-services: {name} stopped ({exc or f'exit {rc}'}); stopping", file=sys.stderr, flush=True)
    stop.set()
    results = await asyncio.gather(*tasks.values(), return_exceptions=True)
    waiter.cancel()
    for r in results:
        if isinstance(r, BaseException):
            rc = rc or 1
        elif r:
            rc = rc or r
    return rc
