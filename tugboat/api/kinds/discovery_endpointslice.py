"""discovery.k8s.io/v1 EndpointSlice: upstream 1.32 defaults and validation.

The service proxy and DNS read endpoints from slices, so addresses must parse as the slice's
address type (which can never change) and port names must be unique within a slice. The
`kubernetes.io/service-name` label ties a slice to its Service but is not required.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import FieldError, duplicate, invalid, not_supported, required
from ..errors import FieldError as _FE
from ..strategy import Strategy, register
from ..validation import is_dns1123_label, is_dns1123_subdomain, is_qualified_name, validate_labels
from .apps_common import immutable
from .core_common import as_dict, as_list, validate_dns_label

Obj = dict[str, Any]
ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
_V4_LL_MCAST = ipaddress.ip_network("224.0.0.0/24")
_V6_LL_MCAST = ipaddress.ip_network("ff02::/16")
MAX_ENDPOINTS, MAX_ADDRESSES, MAX_PORTS, MAX_TOPOLOGY = 1000, 100, 20000, 16


def too_many(path: str, actual: int, limit: int) -> FieldError:
    return _FE("FieldValueTooMany", path, f"{path}: Too many: {actual}: must have at most {limit} items")


def _validate_ip(addr: Any, family: int, path: str) -> list[FieldError]:
    name = "IPv4" if family == 4 else "IPv6"
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return [invalid(path, addr, f"must be a valid {name} address")]
    if ip.version != family:
        return [invalid(path, addr, f"must be a valid {name} address")]
    if ip.is_unspecified:
        return [invalid(path, addr, f"may not be unspecified ({addr})")]
    if ip.is_loopback:
        return [invalid(path, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)")]
    if ip.is_link_local:
        return [invalid(path, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")]
    if ip in (_V4_LL_MCAST if family == 4 else _V6_LL_MCAST):
        return [invalid(path, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")]
    return []


def _validate_fqdn(addr: Any, path: str) -> list[FieldError]:
    if not isinstance(addr, str) or not addr:
        return [required(path)]
    name = addr[:-1] if addr.endswith(".") else addr
    if "." not in name:
        return [invalid(path, addr, "should be a domain with at least two segments separated by dots")]
    return [invalid(path, addr, m) for m in is_dns1123_subdomain(name)]


def validate_endpoints(endpoints: Any, addr_type: Any) -> list[FieldError]:
    eps = as_list(endpoints)
    if len(eps) > MAX_ENDPOINTS:
        return [too_many("endpoints", len(eps), MAX_ENDPOINTS)]
    errs: list[FieldError] = []
    for i, ep in enumerate(eps):
        ep = as_dict(ep)
        p = f"endpoints[{i}]"
        addrs = as_list(ep.get("addresses"))
        if not addrs:
            errs.append(required(f"{p}.addresses", "must contain at least 1 address"))
        elif len(addrs) > MAX_ADDRESSES:
            errs.append(too_many(f"{p}.addresses", len(addrs), MAX_ADDRESSES))
        for j, a in enumerate(addrs):
            ap = f"{p}.addresses[{j}]"
            if addr_type == "IPv4":
                errs += _validate_ip(a, 4, ap)
            elif addr_type == "IPv6":
                errs += _validate_ip(a, 6, ap)
            elif addr_type == "FQDN":
                errs += _validate_fqdn(a, ap)
        node = ep.get("nodeName")
        if node is not None:
            errs += [invalid(f"{p}.nodeName", node, m) for m in is_dns1123_subdomain(str(node))]
        topo = ep.get("deprecatedTopology")
        if isinstance(topo, dict) and len(topo) > MAX_TOPOLOGY:
            errs.append(too_many(f"{p}.deprecatedTopology", len(topo), MAX_TOPOLOGY))
        errs += validate_labels(topo, f"{p}.deprecatedTopology")
        if ep.get("hostname") is not None:
            errs += validate_dns_label(ep["hostname"], f"{p}.hostname")
    return errs


def validate_ports(ports: Any) -> list[FieldError]:
    ps = as_list(ports)
    if len(ps) > MAX_PORTS:
        return [too_many("ports", len(ps), MAX_PORTS)]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, port in enumerate(ps):
        port = as_dict(port)
        p = f"ports[{i}]"
        name = port.get("name") or ""
        if name:
            errs += [invalid(f"{p}.name", name, m) for m in is_dns1123_label(str(name))]
        if name in seen:
            errs.append(duplicate(f"{p}.name", name))
        seen.add(name)
        proto = port.get("protocol")
        if proto is None:
            errs.append(required(f"{p}.protocol"))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(f"{p}.protocol", proto, PROTOCOLS))
        app = port.get("appProtocol")
        if app is not None:
            errs += [invalid(f"{p}.appProtocol", app, m) for m in is_qualified_name(str(app))]
    return errs


class EndpointSliceStrategy(Strategy):
    group, kind = "discovery.k8s.io", "EndpointSlice"

    def default(self, obj: Obj) -> None:
        for port in as_list(obj.get("ports")):
            if isinstance(port, dict):
                port.setdefault("name", "")
                port.setdefault("protocol", "TCP")

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        at = obj.get("addressType")
        if not at:
            errs.append(required("addressType"))
        elif at not in ADDRESS_TYPES:
            errs.append(not_supported("addressType", at, ADDRESS_TYPES))
        errs += validate_endpoints(obj.get("endpoints"), at)
        errs += validate_ports(obj.get("ports"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return super().validate_update(new, old) + immutable(new.get("addressType"), old.get("addressType"),
                                                             "addressType")


register(EndpointSliceStrategy())
