"""Which pods a NetworkPolicy selects and which peers/ports its rules allow (pure; no I/O).

Semantics are upstream's (networking.k8s.io/v1, 1.32):
* a policy selects pods of its own namespace by `spec.podSelector` ({} = all of them);
* `policyTypes` (defaulted by the API: Ingress, plus Egress when egress rules exist) says
  which directions the selected pods are isolated in; an isolated pod gets only what the
  union of the rules of every policy selecting it allows (policies are additive);
* a rule with no `from`/`to` matches every peer; with no `ports` every port;
* a peer is `podSelector` (pods of the policy's namespace), `namespaceSelector` (every pod of
  the matching namespaces), both (matching pods in matching namespaces) or `ipBlock`
  (`cidr` minus `except`);
* a port is a number or the name of a container port (resolved on the pod receiving the
  traffic), `protocol` defaults to TCP, `endPort` extends a numeric port to a range.
Peer pods are those with an IP that are not host-network and not finished.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tugboat.api.selectors import LabelSelector, label_selector_from_dict

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    ip: str
    labels: dict[str, str]
    named_ports: dict[tuple[str, str], int]  # (name, protocol) → containerPort
    node: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def pod_info(pod: Obj) -> PodInfo | None:
    """A pod that can be a peer or a target (has an IP, not host network, not finished)."""
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    ip = status.get("podIP") or ""
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed") or ":" in ip:
        return None
    ports: dict[tuple[str, str], int] = {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for p in c.get("ports") or []:
            if p.get("name") and p.get("containerPort"):
                ports[(p["name"], p.get("protocol") or "TCP")] = int(p["containerPort"])
    return PodInfo(md.get("namespace", ""), md.get("name", ""), md.get("uid", ""), ip,
                   dict(md.get("labels") or {}), ports, spec.get("nodeName") or "")


@dataclass(frozen=True, slots=True)
class PortMatch:
    protocol: str  # TCP, UDP, SCTP
    port: int | None = None  # None: every port of the protocol
    end_port: int | None = None


@dataclass(slots=True)
class Allow:
    """One allow clause for one target pod: peers (None = any) × ports (None = any)."""

    peer_ips: list[str] | None  # pod IPs
    blocks: list[tuple[str, list[str]]]  # (cidr, except)
    ports: list[PortMatch] | None
    # per-peer ports, for egress to named ports (resolved on each destination pod)
    peer_ports: dict[str, list[PortMatch]] = field(default_factory=dict)
    policy: str = ""


@dataclass(slots=True)
class PodRules:
    pod: PodInfo
    ingress: list[Allow] | None = None  # None: not isolated for ingress
    egress: list[Allow] | None = None


def _sel(d: Any) -> LabelSelector:
    return label_selector_from_dict(d if d is not None else {})


def policy_types(policy: Obj) -> list[str]:
    spec = policy.get("spec") or {}
    return list(spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else [])))


class PeerIndex:
    """All peer pods and namespace labels, for resolving selectors."""

    def __init__(self, pods: Iterable[PodInfo], namespaces: dict[str, dict[str, str]]):
        self.pods = list(pods)
        self.namespaces = namespaces

    def select(self, policy_ns: str, peer: Obj) -> list[PodInfo]:
        ps = peer.get("podSelector")
        nss = peer.get("namespaceSelector")
        pod_sel = _sel(ps)
        if nss is None:
            return [p for p in self.pods if p.namespace == policy_ns and pod_sel.matches(p.labels)]
        ns_sel = _sel(nss)
        ok = {n for n, labels in self.namespaces.items() if ns_sel.matches(labels)}
        return [p for p in self.pods if p.namespace in ok and pod_sel.matches(p.labels)]


def _ports(ports: list[Obj] | None, target: PodInfo | None) -> list[PortMatch] | None:
    """None = every port; named ports resolve against `target` (dropped when it lacks them)."""
    if not ports:
        return None
    out: list[PortMatch] = []
    for p in ports:
        proto = p.get("protocol") or "TCP"
        port = p.get("port")
        if port is None or port == "":
            out.append(PortMatch(proto))
        elif isinstance(port, int) or str(port).isdigit():
            end = p.get("endPort")
            out.append(PortMatch(proto, int(port), int(end) if end else None))
        elif target is not None and (str(port), proto) in target.named_ports:
            out.append(PortMatch(proto, target.named_ports[(str(port), proto)]))
    return out


def _has_named(ports: list[Obj] | None) -> bool:
    return any(isinstance(p.get("port"), str) and not str(p["port"]).isdigit() for p in ports or [])


def _allow(policy: Obj, rule: Obj, peers_key: str, target: PodInfo, index: PeerIndex, egress: bool) -> Allow:
    ns = (policy.get("metadata") or {}).get("namespace", "")
    peers = rule.get(peers_key)
    ports = rule.get("ports")
    name = f"{ns}/{(policy.get('metadata') or {}).get('name', '')}"
    if egress and _has_named(ports):
        # a named port means a different number on each destination pod
        allow = Allow(peer_ips=[], blocks=[], ports=[], policy=name)
        dests = index.pods if not peers else [p for peer in peers if "ipBlock" not in peer
                                              for p in index.select(ns, peer)]
        for d in dests:
            named = _ports(ports, d)
            if named:
                allow.peer_ports[d.ip] = named
        return allow
    resolved = _ports(ports, None if egress else target)
    if not peers:
        return Allow(peer_ips=None, blocks=[], ports=resolved, policy=name)
    ips: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    for peer in peers:
        if "ipBlock" in peer:
            b = peer["ipBlock"] or {}
            blocks.append((str(b.get("cidr", "")), [str(x) for x in b.get("except") or []]))
        else:
            ips.extend(p.ip for p in index.select(ns, peer))
    return Allow(peer_ips=sorted(set(ips)), blocks=blocks, ports=resolved, policy=name)


def compute(local_pods: Iterable[PodInfo], policies: Iterable[Obj], index: PeerIndex) -> list[PodRules]:
    """The isolation and allow lists of each local pod (only pods some policy selects)."""
    by_ns: dict[str, list[Obj]] = {}
    for pol in policies:
        by_ns.setdefault((pol.get("metadata") or {}).get("namespace", ""), []).append(pol)
    out: list[PodRules] = []
    for pod in local_pods:
        pr = PodRules(pod)
        for pol in by_ns.get(pod.namespace, ()):
            spec = pol.get("spec") or {}
            if not _sel(spec.get("podSelector")).matches(pod.labels):
                continue
            types = policy_types(pol)
            if "Ingress" in types:
                pr.ingress = (pr.ingress or []) + [_allow(pol, r or {}, "from", pod, index, False)
                                                   for r in spec.get("ingress") or []]
            if "Egress" in types:
                pr.egress = (pr.egress or []) + [_allow(pol, r or {}, "to", pod, index, True)
                                                 for r in spec.get("egress") or []]
        if pr.ingress is not None or pr.egress is not None:
            out.append(pr)
    return out
