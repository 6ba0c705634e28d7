"""The cluster state the DNS server answers from: Services, EndpointSlices, Pods, Namespaces.

The same four informers CoreDNS's kubernetes plugin keeps (its "pods insecure" mode needs pods
only for reverse lookups). Lookups the server does on every query are index hits on the
informer caches: services by name, slices by `kubernetes.io/service-name`, and IP → object for
PTR. Every change bumps `generation`, which is what lets the server cache finished answers
until something changes (and stamps the zone's SOA serial, as CoreDNS does).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tugboat.api.scheme import Scheme, default_scheme
from tugboat.client import InformerFactory, SharedInformer

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SLICE_BY_SERVICE = "dns-by-service"
BY_IP = "dns-by-ip"


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    hostname: str  # "" when the endpoint has none (then DNS uses the dashed IP)
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, port) of the slice it came from


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def endpoint_label(ep: Endpoint) -> str:
    """The first label of an endpoint's name under its service (CoreDNS endpointHostname)."""
    return ep.hostname or dashed(ep.ip)


def is_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def service_ips(svc: Obj) -> list[str]:
    spec = svc.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if ip and ip != "None"]


def _slice_service(obj: Obj) -> list[str]:
    md = obj.get("metadata") or {}
    svc = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{md.get('namespace', '')}/{svc}"] if svc else []


def _service_ips_index(obj: Obj) -> list[str]:
    return service_ips(obj)


def _slice_ips_index(obj: Obj) -> list[str]:
    if obj.get("addressType", "IPv4") != "IPv4":
        return []
    return [a for ep in obj.get("endpoints") or [] for a in ep.get("addresses") or []]


def _pod_ips_index(obj: Obj) -> list[str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("hostNetwork"):
        return []  # its IP is the node's: a PTR would be wrong
    ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
    return [ip for ip in ips if ip]


class ClusterState:
    """Read-only view over the informers; `watch(factory)` creates and hooks them."""

    def __init__(self, services: SharedInformer, slices: SharedInformer, pods: SharedInformer | None,
                 namespaces: SharedInformer | None, *, clock: Callable[[], float] = time.time):
        self.services, self.slices, self.pods, self.namespaces = services, slices, pods, namespaces
        self.generation = 0
        self._clock = clock
        self.serial = int(clock())
        self.listeners: list[Callable[[], None]] = []
        for inf in self._informers():
            inf.add_event_handler(on_add=self._changed_add, on_update=self._changed_update,
                                  on_delete=self._changed_add)

    @classmethod
    def watch(cls, factory: InformerFactory, *, pods: bool = True, scheme: Scheme | None = None) -> ClusterState:
        sch = scheme or default_scheme()

        def rt(group: str, plural: str) -> Any:
            t = sch.get(group, "v1", plural)
            assert t is not None, plural
            return t

        services = factory.informer(rt("", "services"), indexers={BY_IP: _service_ips_index})
        slices = factory.informer(rt("discovery.k8s.io", "endpointslices"),
                                  indexers={SLICE_BY_SERVICE: _slice_service, BY_IP: _slice_ips_index})
        pod_inf = factory.informer(rt("", "pods"), indexers={BY_IP: _pod_ips_index}) if pods else None
        namespaces = factory.informer(rt("", "namespaces"))
        return cls(services, slices, pod_inf, namespaces)

    def _informers(self) -> Iterable[SharedInformer]:
        return [i for i in (self.services, self.slices, self.pods, self.namespaces) if i is not None]

    def _changed_add(self, _obj: Any) -> None:
        self._bump()

    def _changed_update(self, old: Obj, new: Obj) -> None:
        if old is not new:  # resync delivers (obj, obj): nothing changed
            self._bump()

    def _bump(self) -> None:
        self.generation += 1
        self.serial = max(self.serial + 1, int(self._clock()))
        for fn in self.listeners:
            fn()

    def has_synced(self) -> bool:
        return all(i.has_synced() for i in self._informers())

    # -- queries ---------------------------------------------------------------------------

    def service(self, namespace: str, name: str) -> Obj | None:
        return self.services.lister.get(name, namespace)

    def namespace_exists(self, namespace: str) -> bool:
        if self.namespaces is None:
            return True
        return self.namespaces.lister.get(namespace) is not None

    def endpoints(self, svc: Obj) -> list[Endpoint]:
        """Endpoints DNS publishes for a Service: the ready ones (every one with
        publishNotReadyAddresses), IPv4 only, de-duplicated across its slices."""
        md = svc.get("metadata") or {}
        publish_all = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        out: dict[str, Endpoint] = {}
        key = f"{md.get('namespace', '')}/{md.get('name', '')}"
        for sl in self.slices.indexer.by_index(SLICE_BY_SERVICE, key):
            if sl.get("addressType", "IPv4") != "IPv4":
                continue
            ports = tuple((p.get("name") or "", p.get("protocol") or "TCP", int(p["port"]))
                          for p in sl.get("ports") or [] if p.get("port") is not None)
            for ep in sl.get("endpoints") or []:
                ready = (ep.get("conditions") or {}).get("ready")
                if ready is False and not publish_all:
                    continue
                for ip in ep.get("addresses") or []:
                    if ip not in out:
                        out[ip] = Endpoint(ip, ep.get("hostname") or "", ports)
        return sorted(out.values(), key=lambda e: ipaddress.ip_address(e.ip))

    def services_with_ip(self, ip: str) -> list[Obj]:
        return self.services.indexer.by_index(BY_IP, ip)

    def endpoint_names_for_ip(self, ip: str) -> list[tuple[Obj, Endpoint]]:
        """(service, endpoint) pairs publishing `ip`, for PTR answers."""
        out = []
        for sl in self.slices.indexer.by_index(BY_IP, ip):
            md = sl.get("metadata") or {}
            svc_name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL, "")
            svc = self.service(md.get("namespace", ""), svc_name)
            if svc is None:
                continue
            for ep in self.endpoints(svc):
                if ep.ip == ip and (svc, ep) not in out:
                    out.append((svc, ep))
        return out

    def pods_with_ip(self, ip: str) -> list[Obj]:
        return self.pods.indexer.by_index(BY_IP, ip) if self.pods is not None else []
