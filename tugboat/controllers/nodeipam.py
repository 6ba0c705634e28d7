"""Node IPAM: give each node its own pod subnet (spec.podCIDR / spec.podCIDRs).

Why: the CNI bridge + host-local plugins on a node hand out pod IPs from the node's podCIDR,
so two nodes must never share one. Upstream 1.32 range allocator (pkg/controller/nodeipam,
`--allocate-node-cidrs --cluster-cidr 10.244.0.0/16 --node-cidr-mask-size 24`):
* lowest free subnet first; a node that already has a podCIDR keeps it (podCIDR is immutable);
* the occupancy map is rebuilt from the existing nodes on start (state lives in the API only);
* a deleted node's subnet is free again;
* when the range is full the node gets a `CIDRNotAvailable` event and is retried.
One worker: allocation is a read-modify-write of in-memory occupancy.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from tugboat.client import deleted_object, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class CidrSet:
    """The subnets of `cluster_cidr` with prefix `mask`, each free or used."""

    def __init__(self, cluster_cidr: str, mask: int):
        self.net = ipaddress.ip_network(cluster_cidr, strict=False)
        if mask < self.net.prefixlen or mask - self.net.prefixlen > 20:
            raise ValueError(f"node CIDR mask /{mask} does not fit cluster CIDR {cluster_cidr}")
        self.mask = mask
        self.size = 1 << (mask - self.net.prefixlen)
        self.used: set[int] = set()
        self._step = 1 << (self.net.max_prefixlen - mask)

    def _index(self, cidr: str) -> int | None:
        try:
            sub = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if sub.version != self.net.version or sub.prefixlen != self.mask or not sub.subnet_of(self.net):  # type: ignore[arg-type]
            return None
        return (int(sub.network_address) - int(self.net.network_address)) // self._step

    def _cidr(self, i: int) -> str:
        return f"{ipaddress.ip_address(int(self.net.network_address) + i * self._step)}/{self.mask}"

    def occupy(self, cidr: str) -> None:
        i = self._index(cidr)
        if i is not None:
            self.used.add(i)

    def release(self, cidr: str) -> None:
        i = self._index(cidr)
        if i is not None:
            self.used.discard(i)

    def allocate(self) -> str | None:
        for i in range(self.size):
            if i not in self.used:
                self.used.add(i)
                return self._cidr(i)
        return None


@register
class NodeIpamController(BaseController):
    name = "node-ipam-controller"
    workers = 1

    def __init__(self, ctx: ControllerContext, cluster_cidr: str | None = None, node_cidr_mask_size: int | None = None):
        super().__init__(ctx)
        raw = (getattr(ctx, "options", None) or {}).get(self.name) or {}
        self.cidrs = CidrSet(cluster_cidr or raw.get("cluster_cidr", "10.244.0.0/16"),
                             node_cidr_mask_size or int(raw.get("node_cidr_mask_size", 24)))
        self.nodes_rt = ctx.rt("", "v1", "nodes")
        self.assigned: dict[str, str] = {}  # node -> cidr we count as used for it
        self._loaded = False
        self.events = ctx.recorder("cidrAllocator")

    def setup(self) -> None:
        self.nodes = self.ctx.informers.informer(self.nodes_rt)
        self.nodes.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                     on_delete=lambda o: self.enqueue(deleted_object(o)))

    def _load(self) -> None:
        for node in self.nodes.lister.list():
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                self.cidrs.occupy(cidr)
                self.assigned[node["metadata"]["name"]] = cidr
        self._loaded = True

    async def reconcile(self, key: str) -> float | None:
        if not self._loaded:
            self._load()
        node = self.nodes.lister.get(key)
        if node is None:
            cidr = self.assigned.pop(key, None)
            if cidr:
                self.cidrs.release(cidr)
            return None
        have = (node.get("spec") or {}).get("podCIDR")
        if have:
            if self.assigned.get(key) != have:
                self.cidrs.occupy(have)
                self.assigned[key] = have
            return None
        cidr = self.assigned.get(key) or self.cidrs.allocate()
        if cidr is None:
            self.events.emit(node, "Normal", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
            return 30.0
        self.assigned[key] = cidr
        try:
            await self.client.patch(self.nodes_rt, key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except ApiStatusError as e:
            del self.assigned[key]
            self.cidrs.release(cidr)
            if is_not_found(e):
                return None
            raise
        return None
