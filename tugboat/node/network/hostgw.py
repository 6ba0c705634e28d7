"""flannel host-gw: route every other node's podCIDR via that node's InternalIP.

Why: pods get addresses from their node's podCIDR (node IPAM) on a bridge that only that node
has, so for pod-to-pod traffic across nodes each node needs a route `<podCIDR> via <nodeIP>`
for every other node — the nodes sharing one L2 segment, as flannel's host-gw backend
requires. Packets keep their pod source addresses (hostrules.py does not masquerade traffic
to the cluster CIDR), so NetworkPolicy on the receiving node sees the real peer.

Routes come from a Node informer: a node that joins, changes address or podCIDR, or is
deleted changes the table within one sync; a periodic resync (flannel's 10 s route check)
puts back routes someone deleted. Every route we add carries routing protocol 117 (`proto
117`, unused by iproute2's rt_protos; the service proxy uses 116), so after a crash the next
start knows exactly which routes are its own and removes stale ones; nothing else is touched.
With `cluster_cidr` an `unreachable <cluster CIDR>` route (same mark) makes a packet for a
pod subnet no node owns fail here instead of following the default route off the host.
`stop()` removes all of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tugboat.api.scheme import default_scheme
from tugboat.client import Client, SharedInformer

log = logging.getLogger(__name__)
ROUTE_PROTO = "117"
NODE = default_scheme().by_kind("", "v1", "Node")
Runner = Callable[..., Awaitable[tuple[int, str, str]]]


async def run_cmd(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def internal_ip(node: dict[str, Any]) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            try:
                if ipaddress.ip_address(a.get("address", "")).version == 4:
                    return str(a["address"])
            except ValueError:
                continue
    return ""


def desired_routes(nodes: list[dict[str, Any]], own_name: str) -> dict[str, str]:
    """podCIDR → gateway (the node's InternalIP) for every other node that has both."""
    own_ip = next((internal_ip(n) for n in nodes if (n.get("metadata") or {}).get("name") == own_name), "")
    out: dict[str, str] = {}
    for n in nodes:
        name = (n.get("metadata") or {}).get("name", "")
        spec = n.get("spec") or {}
        ip = internal_ip(n)
        if name == own_name or not ip or ip == own_ip or (n.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for cidr in spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []):
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue
            if net.version == 4:
                out[str(net)] = ip
    return out


def parse_routes(text: str) -> tuple[dict[str, str], set[str]]:
    """`ip -4 route show proto 117` → ({dst: gateway} of `via` routes, {dst} of unreachable ones)."""
    via: dict[str, str] = {}
    unreachable: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "unreachable" and len(parts) > 1:
            unreachable.add(_norm(parts[1]))
        elif "via" in parts:
            via[_norm(parts[0])] = parts[parts.index("via") + 1]
    return via, unreachable


def _norm(dst: str) -> str:
    return str(ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False))


class HostGateway:
    """A node-agent service (async start/stop): keeps this host's routes to other nodes' pods."""

    def __init__(self, client: Client, node_name: str, *, cluster_cidr: str | None = None,
                 netns: str | None = None, resync_period: float = 10.0, runner: Runner = run_cmd):
        self.client = client
        self.node_name = node_name
        self.cluster_cidr = str(ipaddress.ip_network(cluster_cidr, strict=False)) if cluster_cidr else None
        self.netns = netns
        self.resync_period = resync_period
        self._run = runner
        assert NODE is not None
        self.informer = SharedInformer(client, NODE)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.synced_routes: dict[str, str] = {}  # what the last sync left in place
        self.syncs = 0

    def _ip(self, *args: str) -> list[str]:
        return ["ip", *(["-n", self.netns] if self.netns else []), *args]

    async def ip(self, *args: str, check: bool = True) -> str:
        rc, out, err = await self._run(*self._ip(*args))
        if check and rc != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {err.strip()}")
        return out

    async def start(self) -> None:
        kick = self._dirty.set
        self.informer.add_event_handler(on_add=lambda _o: kick(), on_update=lambda _o, _n: kick(),
                                        on_delete=lambda _o: kick())
        self.informer.start()
        await self.informer.wait_for_sync()
        await self.sync()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"hostgw-{self.node_name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.informer.stop()
        await self.remove_all()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.resync_period)
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried at the next event or resync
                log.warning("host-gw: route sync failed: %s", e)

    async def sync(self) -> None:
        """Make the proto-117 routes exactly the desired ones (level-triggered, idempotent)."""
        want = desired_routes(self.informer.lister.list(), self.node_name)
        have, unreachable = parse_routes(await self.ip("-4", "route", "show", "proto", ROUTE_PROTO))
        for dst in sorted(set(have) - set(want)):
            await self.ip("route", "del", dst, "proto", ROUTE_PROTO, check=False)
            log.info("host-gw: removed route %s via %s", dst, have[dst])
        for dst, gw in sorted(want.items()):
            if have.get(dst) == gw:
                continue
            rc, _, err = await self._run(*self._ip("route", "replace", dst, "via", gw, "proto", ROUTE_PROTO))
            if rc != 0:
                log.warning("host-gw: cannot route %s via %s: %s", dst, gw, err.strip())
                want.pop(dst)
                continue
            log.info("host-gw: route %s via %s", dst, gw)
        for dst in sorted(unreachable - ({self.cluster_cidr} if self.cluster_cidr else set())):
            await self.ip("route", "del", "unreachable", dst, "proto", ROUTE_PROTO, check=False)
        if self.cluster_cidr and self.cluster_cidr not in unreachable:
            await self.ip("route", "replace", "unreachable", self.cluster_cidr, "proto", ROUTE_PROTO)
        self.synced_routes = want
        self.syncs += 1

    async def remove_all(self) -> None:
        """Delete every route carrying our mark (ours from this run or a crashed one)."""
        have, unreachable = parse_routes(await self.ip("-4", "route", "show", "proto", ROUTE_PROTO, check=False))
        for dst in have:
            await self.ip("route", "del", dst, "proto", ROUTE_PROTO, check=False)
        for dst in unreachable:
            await self.ip("route", "del", "unreachable", dst, "proto", ROUTE_PROTO, check=False)
        self.synced_routes = {}
