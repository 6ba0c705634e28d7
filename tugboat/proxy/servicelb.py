"""ServiceLB: `type: LoadBalancer` without a cloud, the way k3s's ServiceLB (klipper-lb) does it.

The load balancer is the nodes themselves: `status.loadBalancer.ingress` lists the node
addresses (ExternalIP if a node has one, else InternalIP) and the proxy's "loadbalancer IP"
rules send `<node address>:<service port>` to the Service — no per-Service pods needed.

Which nodes (k3s's rules): Ready nodes (a node without a Ready condition counts), minus those
labelled `node.kubernetes.io/exclude-from-external-load-balancers`; if any node carries
`svccontroller.k3s.cattle.io/enablelb=true`, only those. Services with a
`spec.loadBalancerClass` belong to another controller and are left alone. The result is
computed from the Node list alone, so every node's proxy writing it agrees (writes only
happen when the status differs).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import Any

from tugboat.client import Client, InformerFactory, copy_obj, is_conflict, is_not_found
from tugboat.client.errors import ApiStatusError

log = logging.getLogger(__name__)
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
ENABLE_LABEL = "svccontroller.k3s.cattle.io/enablelb"


def _ready(node: dict[str, Any]) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return True


def node_ingress(nodes: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The ingress list for every LoadBalancer Service, sorted by address."""
    labelled = [n for n in nodes if ((n.get("metadata") or {}).get("labels") or {}).get(ENABLE_LABEL) == "true"]
    ips: set[str] = set()
    for node in labelled or nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if EXCLUDE_LABEL in labels or not _ready(node):
            continue
        addrs = (node.get("status") or {}).get("addresses") or []
        external = [a["address"] for a in addrs if a.get("type") == "ExternalIP" and a.get("address")]
        internal = [a["address"] for a in addrs if a.get("type") == "InternalIP" and a.get("address")]
        ips.update(a for a in (external or internal) if ipaddress.ip_address(a).version == 4)
    return [{"ip": ip} for ip in sorted(ips, key=ipaddress.IPv4Address)]


def _same(current: list[dict[str, Any]], want: list[dict[str, str]]) -> bool:
    return [i.get("ip") for i in current] == [w["ip"] for w in want]


class ServiceLB:
    def __init__(self, client: Client, informers: InformerFactory):
        self.client = client
        self.informers = informers
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def setup(self) -> None:
        from tugboat.proxy.proxier import NODES, SERVICES

        self.rt = SERVICES
        self.services = self.informers.informer(SERVICES)
        self.nodes = self.informers.informer(NODES)
        for inf in (self.services, self.nodes):
            inf.add_event_handler(on_add=self._kick, on_update=lambda _o, _n: self._kick(), on_delete=self._kick)

    def _kick(self, *_: Any) -> None:
        self._dirty.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="servicelb")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retry on the next change or after a pause
                log.exception("servicelb: status update failed")
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def sync(self) -> int:
        """Write the ingress of every LoadBalancer Service whose status differs; returns writes."""
        want = node_ingress(self.nodes.lister.list())
        writes = 0
        for svc in self.services.lister.list():
            spec = svc.get("spec") or {}
            if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass"):
                continue
            lb = (svc.get("status") or {}).get("loadBalancer") or {}
            if _same(lb.get("ingress") or [], want):
                continue
            new = copy_obj(svc)
            new.setdefault("status", {})["loadBalancer"] = {"ingress": want} if want else {}
            try:
                await self.client.update_status(self.rt, new)
                writes += 1
            except ApiStatusError as e:
                if is_not_found(e):
                    continue
                if is_conflict(e):  # the informer brings the newer object; look again shortly
                    asyncio.get_running_loop().call_later(0.5, self._dirty.set)
                    continue
                raise
        return writes
