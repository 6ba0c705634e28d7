"""Service ClusterIP and NodePort allocation (upstream's ipallocator/portallocator, in memory).

State is rebuilt from the stored Services at start; allocation happens in admission (before
the write), release after a delete commits or a create fails. 10.96.0.1 is reserved for the
`kubernetes` Service.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from tugboat.api import errors
from tugboat.api.scheme import ResourceType

from . import codec
from .registry import Registry, WriteOpts

Obj = dict[str, Any]


class Allocators:
    def __init__(self, registry: Registry, cidr: str = "10.96.0.0/12", ports: tuple[int, int] = (30000, 32767)):
        self.registry = registry
        self.net = ipaddress.ip_network(cidr)
        self.ports = ports
        self.ips: set[str] = set()
        self.node_ports: set[int] = set()
        self.kubernetes_ip = str(self.net.network_address + 1)

    async def load(self) -> None:
        rt = self.registry.scheme.get("", "v1", "services")
        assert rt is not None
        res = await self.registry.backend.list(rt.key_prefix)
        for kv in res.items:
            self._take(codec.decode(kv.value, kv.mod_revision))

    def _take(self, svc: Obj) -> None:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            self.ips.add(ip)
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                self.node_ports.add(p["nodePort"])

    def _release(self, svc: Obj, keep: Obj | None = None) -> None:
        keep_ips, keep_ports = set(), set()
        if keep is not None:
            ks = keep.get("spec") or {}
            keep_ips.add(ks.get("clusterIP"))
            keep_ports = {p.get("nodePort") for p in ks.get("ports") or [] if isinstance(p, dict)}
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip not in keep_ips:
            self.ips.discard(ip)
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and p.get("nodePort") not in keep_ports:
                self.node_ports.discard(p.get("nodePort"))

    def _alloc_ip(self) -> str:
        size = self.net.num_addresses
        base = int(self.net.network_address)
        start = random.randrange(2, size - 1)
        for off in range(size - 3):
            cand = str(ipaddress.ip_address(base + 2 + (start - 2 + off) % (size - 3)))
            if cand not in self.ips:
                return cand
        raise errors.internal("range is full")

    def _alloc_port(self) -> int:
        lo, hi = self.ports
        start = random.randint(lo, hi)
        for off in range(hi - lo + 1):
            cand = lo + (start - lo + off) % (hi - lo + 1)
            if cand not in self.node_ports:
                return cand
        raise errors.internal("range is full")

    async def admit(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if rt.group != "" or rt.kind != "Service" or new is None or op not in ("CREATE", "UPDATE"):
            return
        spec = new.setdefault("spec", {})
        name = new["metadata"].get("name", "")
        oldspec = (old or {}).get("spec") or {}
        typ = spec.get("type") or "ClusterIP"
        causes = []
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        if typ != "ExternalName":
            ip = spec.get("clusterIP") or oldspec.get("clusterIP") or ""
            if op == "CREATE" or not oldspec.get("clusterIP"):
                if ip and ip != "None":
                    try:
                        inside = ipaddress.ip_address(ip) in self.net
                    except ValueError:
                        inside = False
                    if not inside:
                        causes.append(errors.invalid("spec.clusterIPs", [ip], f"failed to allocate IP {ip}: the "
                                                     f"provided IP ({ip}) is not in the valid range. The range of "
                                                     f"valid IPs is {self.net}"))
                    elif ip in self.ips:
                        causes.append(errors.invalid("spec.clusterIPs", [ip], f"failed to allocate IP {ip}: "
                                                     "provided IP is already allocated"))
                    else:
                        taken_ips.append(ip)
                elif not ip:
                    ip = self._alloc_ip()
                    taken_ips.append(ip)
            spec["clusterIP"] = ip
            if ip:
                spec["clusterIPs"] = [ip]
                if ip != "None":
                    spec.setdefault("ipFamilies", ["IPv4"])
                    spec.setdefault("ipFamilyPolicy", "SingleStack")
        old_ports = {p.get("nodePort") for p in oldspec.get("ports") or [] if isinstance(p, dict)}
        if typ in ("NodePort", "LoadBalancer"):
            for i, p in enumerate(spec.get("ports") or []):
                if not isinstance(p, dict):
                    continue
                np_ = p.get("nodePort")
                if np_ in old_ports and np_:
                    continue
                if np_:
                    lo, hi = self.ports
                    if not isinstance(np_, int) or not lo <= np_ <= hi:
                        causes.append(errors.invalid(f"spec.ports[{i}].nodePort", np_,
                                                     f"provided port is not in the valid range. The range of "
                                                     f"valid ports is {lo}-{hi}"))
                    elif np_ in self.node_ports or np_ in taken_ports:
                        causes.append(errors.invalid(f"spec.ports[{i}].nodePort", np_,
                                                     "provided port is already allocated"))
                    else:
                        taken_ports.append(np_)
                else:
                    p["nodePort"] = self._alloc_port()
                    taken_ports.append(p["nodePort"])
                    self.node_ports.add(p["nodePort"])
        if causes:
            for tp in taken_ports:
                self.node_ports.discard(tp)
            raise errors.invalid_object("", "Service", name, causes)
        self.ips.update(taken_ips)
        self.node_ports.update(taken_ports)
        if opts.dry_run:
            self.ips.difference_update(taken_ips)
            self.node_ports.difference_update(taken_ports)

    async def committed(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None) -> None:
        if rt.group != "" or rt.kind != "Service":
            return
        if op == "DELETE" and old is not None:
            self._release(old)
        elif op == "CREATE_FAILED" and new is not None:
            self._release(new)
        elif op == "UPDATE" and old is not None and new is not None:
            self._release(old, keep=new)
