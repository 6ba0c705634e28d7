"""What the proxy needs from Services and EndpointSlices, read once into small slotted records.

The rule generator never looks at API dicts: `service_ports(svc)` turns a Service into one
`ServicePort` per spec.ports entry (nothing for headless or ExternalName Services, which have
no VIP to program), and `port_endpoints(port, slices)` picks that port's endpoints out of the
Service's EndpointSlices (IPv4 only, deduplicated by ip:port, the port matched by name and
protocol as upstream does).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
DEFAULT_AFFINITY_TIMEOUT = 10800


@dataclass(slots=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str
    protocol: str  # lower case: tcp / udp / sctp
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: list[str] = field(default_factory=list)
    lb_ips: list[str] = field(default_factory=list)
    lb_source_ranges: list[str] = field(default_factory=list)
    affinity_timeout: int = 0  # 0: no session affinity
    external_local: bool = False
    internal_local: bool = False
    health_check_node_port: int = 0

    @property
    def spn(self) -> str:
        """upstream's ServicePortName string: `ns/name:port` (`ns/name` for an unnamed port)."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_ips)

    @property
    def external_policy_local(self) -> bool:
        return self.external_local and self.externally_accessible

    @property
    def uses_cluster_endpoints(self) -> bool:
        # even with externalTrafficPolicy Local, pod traffic to external addresses short-circuits
        # to the cluster chain (upstream's UsesClusterEndpoints)
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_policy_local


@dataclass(slots=True, frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = ""

    @property
    def addr(self) -> str:
        return f"{self.ip}:{self.port}"


def _ipv4(text: Any) -> bool:
    try:
        return isinstance(text, str) and ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def service_ports(svc: Obj) -> list[ServicePort]:
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    cluster_ip = next((ip for ip in ips if _ipv4(ip)), None)
    if cluster_ip is None:  # headless ("None") or IPv6-only: nothing to program
        return []
    meta = svc.get("metadata") or {}
    timeout = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        timeout = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    lb_ips = []
    if spec.get("type") == "LoadBalancer":
        for ing in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            # ipMode Proxy: the load balancer delivers to the node itself, no VIP rule (upstream).
            if _ipv4(ing.get("ip")) and ing.get("ipMode") != "Proxy":
                lb_ips.append(ing["ip"])
    external = spec.get("type") in ("NodePort", "LoadBalancer")
    out = []
    for p in spec.get("ports") or []:
        out.append(ServicePort(
            namespace=meta.get("namespace") or "default", name=meta.get("name") or "",
            port_name=p.get("name") or "", protocol=(p.get("protocol") or "TCP").lower(),
            cluster_ip=cluster_ip, port=int(p.get("port") or 0),
            node_port=int(p.get("nodePort") or 0) if external else 0,
            external_ips=[ip for ip in spec.get("externalIPs") or [] if _ipv4(ip)],
            lb_ips=lb_ips, lb_source_ranges=[r for r in spec.get("loadBalancerSourceRanges") or [] if r],
            affinity_timeout=timeout,
            external_local=spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            health_check_node_port=int(spec.get("healthCheckNodePort") or 0)))
    return out


def port_endpoints(sp: ServicePort, slices: list[Obj]) -> list[Endpoint]:
    """Endpoints of one service port, sorted by (ip, port) so rule order is stable."""
    seen: dict[str, Endpoint] = {}
    proto = sp.protocol.upper()
    for sl in slices:
        if sl.get("addressType") != "IPv4":
            continue
        port = None
        for p in sl.get("ports") or []:
            if (p.get("name") or "") == sp.port_name and (p.get("protocol") or "TCP") == proto:
                port = p.get("port")
                break
        if not port:
            continue
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False  # nil means ready (upstream)
            serving = cond.get("serving", ready) is not False
            terminating = bool(cond.get("terminating"))
            for ip in (ep.get("addresses") or [])[:1]:  # upstream uses the first address only
                if not _ipv4(ip):
                    continue
                e = Endpoint(ip, int(port), ready, serving, terminating, ep.get("nodeName") or "")
                old = seen.get(e.addr)
                if old is None or (e.ready and not old.ready):
                    seen[e.addr] = e
    return sorted(seen.values(), key=lambda e: (ipaddress.IPv4Address(e.ip), e.port))


def usable(eps: list[Endpoint]) -> list[Endpoint]:
    """Ready endpoints; if there are none, the serving-and-terminating ones (upstream's
    terminating-endpoints fallback, GA in 1.28), so connections drain instead of failing."""
    ready = [e for e in eps if e.ready]
    return ready or [e for e in eps if e.serving and e.terminating]
