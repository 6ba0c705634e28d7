"""`tug dns`: the cluster DNS server on its own (`tug server` embeds the same ClusterDNS).

    tug dns --kubeconfig FILE [--listen 10.96.0.10:53] [--upstream FILE|IP[:port] …]
            [--cluster-domain cluster.local] [--metrics 127.0.0.1:9153]

Upstreams default to the host's /etc/resolv.conf nameservers minus loopback stubs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("tug.dns")


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """`10.96.0.10:53`, `10.96.0.10`, `[::1]:53` → (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def add_dns_parser(sub: Any) -> argparse.ArgumentParser:
    d: argparse.ArgumentParser = sub.add_parser("dns", help="run the cluster DNS server")
    d.add_argument("--kubeconfig", required=True)
    d.add_argument("--listen", default="10.96.0.10:53", help="address:port for UDP and TCP")
    d.add_argument("--upstream", nargs="*", default=[], metavar="FILE|IP",
                   help="resolvers for other names: resolv.conf files or IP[:port] (default: the host's)")
    d.add_argument("--cluster-domain", default="cluster.local")
    d.add_argument("--ttl", type=int, default=5, help="TTL of cluster records (CoreDNS default 5)")
    d.add_argument("--metrics", default="", help="address:port for /metrics and /health (e.g. 127.0.0.1:9153)")
    d.add_argument("--log-level", default="info")
    return d


async def run_dns(args: argparse.Namespace, stop: asyncio.Event | None = None,
                  listen_on: Callable[[], Awaitable[str]] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or until `stop` is set, when given). `listen_on` (from
    `tug node-services`) gives the address once known ('' = stopped first): the informers
    sync meanwhile, so DNS answers as soon as the address exists."""
    from tugboat.client import Client, InformerFactory, load_kubeconfig
    from tugboat.dns.metrics import serve_metrics
    from tugboat.dns.service import ClusterDNS
    from tugboat.dns.upstreams import parse_upstreams

    try:
        upstreams = parse_upstreams(list(args.upstream))
    except ValueError as e:
        print(f"tug dns: bad --upstream: {e}", file=sys.stderr)
        return 2
    if not upstreams:
        log.warning("dns: no upstream resolvers: names outside %s will get SERVFAIL", args.cluster_domain)
    client = Client(load_kubeconfig(args.kubeconfig), component="tug-dns")
    factory = InformerFactory(client) if listen_on is not None else None
    host, port = parse_hostport(args.listen, 53) if listen_on is None else ("0.0.0.0", int(args.listen or 53))
    server = ClusterDNS(client, listen=(host, port), upstreams=upstreams,
                        cluster_domain=args.cluster_domain, ttl=args.ttl, factory=factory)
    try:
        if listen_on is not None and factory is not None:
            factory.start()
            host = await listen_on()
            if not host:
                await _close(server, factory, client)
                return 0
            server.server.host = server.zone.dns_ip = host
        await server.start()
    except OSError as e:
        print(f"tug dns: cannot listen on {host}:{port}: {e.strerror}", file=sys.stderr, flush=True)
        await _close(server, factory, client)
        return 1
    metrics = None
    if args.metrics:
        host, port = parse_hostport(args.metrics, 9153)
        metrics = await serve_metrics(server.handler, server.zone.domain, host, port)
    print(f"tug dns: serving {args.cluster_domain} on {server.server.host}:{server.port}", flush=True)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if metrics is not None:
        await metrics.cleanup()
    await _close(server, factory, client)
    return 0


async def _close(server: Any, factory: Any, client: Any) -> None:
    await server.stop()
    if factory is not None:  # ours, not the server's (listen_on)
        await factory.stop()
    await client.close()
