"""networking.k8s.io/v1 NetworkPolicy: upstream 1.32 defaults and validation.

policyTypes defaults as upstream: Ingress always, plus Egress when egress rules are present;
the policy enforcer relies on that to know which directions a policy isolates.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..selectors import validate_label_selector
from ..strategy import Strategy, register
from .core_common import as_dict, as_list, is_int, port_name_errors, port_num_errors

Obj = dict[str, Any]
PROTOCOLS = ["TCP", "UDP", "SCTP"]
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def _validate_port(port: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    proto = port.get("protocol")
    if proto is not None and proto not in PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", proto, PROTOCOLS))
    p, end = port.get("port"), port.get("endPort")
    if p is None:
        if end is not None:
            errs.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is not specified"))
    elif is_int(p):
        errs += [invalid(f"{path}.port", p, m) for m in port_num_errors(p)]
        if end is not None:
            if is_int(end) and end < p:
                errs.append(invalid(f"{path}.endPort", p, "must be greater than or equal to `port`"))
            errs += [invalid(f"{path}.endPort", end, m) for m in port_num_errors(end)]
    else:
        if end is not None:
            errs.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric"))
        errs += [invalid(f"{path}.port", p, m) for m in port_name_errors(str(p))]
    return errs


def _net(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=False) if "/" in str(value) else None
    except ValueError:
        return None


def _validate_ip_block(block: Obj, path: str) -> list[FieldError]:
    cidr = block.get("cidr")
    if not cidr:
        return [required(f"{path}.cidr")]
    net = _net(cidr)
    if net is None:
        return [invalid(f"{path}.cidr", cidr, CIDR_MSG)]
    errs: list[FieldError] = []
    for i, ex in enumerate(as_list(block.get("except"))):
        p = f"{path}.except[{i}]"
        exn = _net(ex)
        if exn is None:
            errs.append(invalid(p, ex, CIDR_MSG))
        elif exn.version != net.version or not exn.subnet_of(net) or exn.prefixlen <= net.prefixlen:  # type: ignore[arg-type]
            errs.append(invalid(p, ex, "must be a strict subset of `cidr`"))
    return errs


def _validate_peer(peer: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    n = 0
    for f in ("podSelector", "namespaceSelector"):
        if peer.get(f) is not None:
            n += 1
            errs += validate_label_selector(peer[f], f"{path}.{f}")
    if peer.get("ipBlock") is not None:
        n += 1
        errs += _validate_ip_block(as_dict(peer["ipBlock"]), f"{path}.ipBlock")
    if n == 0:
        errs.append(required(path, "must specify a peer"))
    elif n > 1 and peer.get("ipBlock") is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def validate_network_policy_spec(spec: Obj) -> list[FieldError]:
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(as_list(spec.get(direction))):
            rule = as_dict(rule)
            rp = f"spec.{direction}[{i}]"
            for j, port in enumerate(as_list(rule.get("ports"))):
                errs += _validate_port(as_dict(port), f"{rp}.ports[{j}]")
            for j, peer in enumerate(as_list(rule.get(peers))):
                errs += _validate_peer(as_dict(peer), f"{rp}.{peers}[{j}]")
    types = as_list(spec.get("policyTypes"))
    if len(types) > 2:
        return errs + [invalid("spec.policyTypes", types, "may not specify more than two policyTypes")]
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            errs.append(not_supported(f"spec.policyTypes[{i}]", t, ["Ingress", "Egress"]))
    return errs


class NetworkPolicyStrategy(Strategy):
    group, kind = "networking.k8s.io", "NetworkPolicy"

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        for direction in ("ingress", "egress"):
            for rule in as_list(spec.get(direction)):
                for port in as_list(as_dict(rule).get("ports")):
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + validate_network_policy_spec(as_dict(obj.get("spec")))


register(NetworkPolicyStrategy())
