"""The desired iptables rule set, computed from Services and endpoints (pure; no I/O).

Layout and wording follow upstream's iptables proxier (pkg/proxy/iptables, 1.32), re-prefixed:

  nat    TUGBOAT-SERVICES   one rule per VIP:port (cluster IP, external IP, LB IP) → SVC/SVL/EXT/FW,
                            last: `addrtype --dst-type LOCAL` → TUGBOAT-NODEPORTS
         TUGBOAT-NODEPORTS  --dport nodePort → EXT
         TUGBOAT-EXT-*      masquerade (Cluster policy) or the Local short-circuits, → SVC or SVL
         TUGBOAT-SVC-* / SVL-*  affinity (`-m recent --rcheck`) then random spread → SEP
         TUGBOAT-SEP-*      hairpin mark, (affinity `--set`), DNAT to ip:port
         TUGBOAT-MARK-MASQ / TUGBOAT-POSTROUTING  mark 0x4000, then MASQUERADE marked packets
  filter TUGBOAT-SERVICES / TUGBOAT-EXTERNAL-SERVICES  REJECT (no endpoints) / DROP (no local ones)
         TUGBOAT-FORWARD, TUGBOAT-NODEPORTS (health check ports), TUGBOAT-PROXY-FIREWALL
         (loadBalancerSourceRanges), TUGBOAT-FIREWALL (block off-host packets to 127/8)

A rule set is `{(table, chain): [line, …]}` with lines exactly as written to iptables-restore.
Per-service output is a `Fragment`, cached by the proxier while the Service and its slices are
unchanged, so a sync with 1 000 Services regenerates only the ones that changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tugboat.proxy import names as n
from tugboat.proxy.model import Endpoint, ServicePort, usable

ChainKey = tuple[str, str]
Ruleset = dict[ChainKey, list[str]]
Fragment = dict[ChainKey, list[str]]
_SHARED = frozenset((n.SERVICES, n.EXTERNAL_SERVICES, n.NODEPORTS, n.PROXY_FIREWALL))  # filled by all services


@dataclass(slots=True, frozen=True)
class RuleConfig:
    node_name: str = ""
    cluster_cidr: str = "10.244.0.0/16"  # traffic from outside it to a cluster IP is masqueraded
    masquerade_all: bool = False
    localhost_nodeports: bool = True
    service_cidr: str = ""  # set when the proxy routes the CIDR (hostnet.py): REJECT unowned VIPs


def _c(text: str) -> str:
    return f'-m comment --comment "{text}"'


def base_rules(cfg: RuleConfig) -> Ruleset:
    """The fixed chains (TUGBOAT-SERVICES' trailing nodeports jump is added by `assemble`)."""
    rs: Ruleset = {("nat", c): [] for c in n.NAT_BASE}
    rs.update({("filter", c): [] for c in n.FILTER_BASE})
    m = n.MASQ_MARK
    rs["nat", n.POSTROUTING] = [
        f"-A {n.POSTROUTING} -m mark ! --mark {m}/{m} -j RETURN",
        f"-A {n.POSTROUTING} -j MARK --xor-mark {m}",
        f'-A {n.POSTROUTING} {_c("kubernetes service traffic requiring SNAT")} -j MASQUERADE --random-fully',
    ]
    rs["nat", n.MARK_MASQ] = [f"-A {n.MARK_MASQ} -j MARK --or-mark {m}"]
    rs["filter", n.FORWARD] = [
        f"-A {n.FORWARD} -m conntrack --ctstate INVALID -j DROP",
        f'-A {n.FORWARD} {_c("kubernetes forwarding rules")} -m mark --mark {m}/{m} -j ACCEPT',
        f'-A {n.FORWARD} {_c("kubernetes forwarding conntrack rule")} -m conntrack --ctstate RELATED,ESTABLISHED '
        "-j ACCEPT",
    ]
    if cfg.localhost_nodeports:
        rs["filter", n.FIREWALL] = [
            f'-A {n.FIREWALL} {_c("block incoming localnet connections")} -d 127.0.0.0/8 ! -s 127.0.0.0/8 '
            "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"]
    return rs


def _endpoint_rules(frag: Fragment, sp: ServicePort, chain: str, eps: list[Endpoint]) -> None:
    rules = frag.setdefault(("nat", chain), [])
    spn, proto = sp.spn, sp.protocol
    if sp.affinity_timeout:
        for e in eps:
            sep = n.sep_chain(spn, proto, e.addr)
            rules.append(f'-A {chain} {_c(f"{spn} -> {e.addr}")} -m recent --name {sep} --rcheck '
                         f"--seconds {sp.affinity_timeout} --reap -j {sep}")
    count = len(eps)
    for i, e in enumerate(eps):
        sep = n.sep_chain(spn, proto, e.addr)
        stat = f"-m statistic --mode random --probability {1.0 / (count - i):.10f} " if i < count - 1 else ""
        rules.append(f'-A {chain} {_c(f"{spn} -> {e.addr}")} {stat}-j {sep}')


def service_fragment(sp: ServicePort, endpoints: list[Endpoint], cfg: RuleConfig) -> Fragment:
    """Everything one service port contributes, following upstream's syncProxyRules case by case."""
    frag: Fragment = defaultdict(list)
    spn, proto = sp.spn, sp.protocol
    pm = f"-m {proto} -p {proto}"
    cluster_eps = usable(endpoints)
    local_eps = usable([e for e in endpoints if e.node_name and e.node_name == cfg.node_name])
    svc, svl, ext, fw = (n.svc_chain(spn, proto), n.svl_chain(spn, proto), n.ext_chain(spn, proto),
                         n.fw_chain(spn, proto))
    uses_cluster = bool(cluster_eps) and sp.uses_cluster_endpoints
    uses_local = bool(local_eps) and sp.uses_local_endpoints
    reachable: dict[str, Endpoint] = {}
    if uses_cluster:
        reachable.update((e.addr, e) for e in cluster_eps)
    if uses_local:
        reachable.update((e.addr, e) for e in local_eps)
    has_eps = bool(cluster_eps)  # usable endpoints on ANY node (upstream's hasEndpoints)
    internal_chain, has_internal = svc, has_eps
    if sp.internal_local:
        internal_chain, has_internal = svl, bool(local_eps) and has_eps
    external_policy, has_external = svc, has_eps
    if sp.external_policy_local:
        external_policy, has_external = svl, bool(local_eps) and has_eps
    uses_ext = has_eps and sp.externally_accessible
    uses_fw = has_eps and bool(sp.lb_ips) and bool(sp.lb_source_ranges)
    lb_target = fw if uses_fw else ext
    if not has_eps:
        int_target, int_comment = "REJECT", f"{spn} has no endpoints"
        ext_target, ext_comment = "REJECT", int_comment
    else:
        int_target, int_comment = "DROP", f"{spn} has no local endpoints"
        ext_target, ext_comment = int_target, int_comment
    dport = f"--dport {sp.port}"
    nat_svcs, f_svcs, f_ext = frag["nat", n.SERVICES], frag["filter", n.SERVICES], frag["filter", n.EXTERNAL_SERVICES]

    if has_internal:
        nat_svcs.append(f'-A {n.SERVICES} {_c(f"{spn} cluster IP")} {pm} -d {sp.cluster_ip} {dport} '
                        f"-j {internal_chain}")
    else:
        if int_target == "REJECT" and proto == "tcp" and cfg.service_cidr:
            # The node's own connections to a VIP are routed via lo (hostnet.py), where the
            # kernel cannot send the ICMP error back (its source would be the VIP): answer a
            # RST instead, so the node sees "connection refused" like pods do.
            f_svcs.append(f"-A {n.SERVICES} {_c(int_comment)} -m addrtype --src-type LOCAL {pm} "
                          f"-d {sp.cluster_ip} {dport} -j REJECT --reject-with tcp-reset")
        f_svcs.append(f"-A {n.SERVICES} {_c(int_comment)} {pm} -d {sp.cluster_ip} {dport} -j {int_target}")
    for ip in sp.external_ips:
        if has_eps:
            nat_svcs.append(f'-A {n.SERVICES} {_c(f"{spn} external IP")} {pm} -d {ip} {dport} -j {ext}')
        if not has_external:
            f_ext.append(f"-A {n.EXTERNAL_SERVICES} {_c(ext_comment)} {pm} -d {ip} {dport} -j {ext_target}")
    for ip in sp.lb_ips:
        if has_eps:
            nat_svcs.append(f'-A {n.SERVICES} {_c(f"{spn} loadbalancer IP")} {pm} -d {ip} {dport} -j {lb_target}')
        if uses_fw:
            frag["filter", n.PROXY_FIREWALL].append(
                f'-A {n.PROXY_FIREWALL} {_c(f"{spn} traffic not accepted by {fw}")} {pm} -d {ip} {dport} -j DROP')
        if not has_external:
            f_ext.append(f"-A {n.EXTERNAL_SERVICES} {_c(ext_comment)} {pm} -d {ip} {dport} -j {ext_target}")
    if sp.node_port:
        if has_eps:
            frag["nat", n.NODEPORTS].append(f"-A {n.NODEPORTS} {_c(spn)} {pm} --dport {sp.node_port} -j {ext}")
        if not has_external:
            f_ext.append(f"-A {n.EXTERNAL_SERVICES} {_c(ext_comment)} -m addrtype --dst-type LOCAL {pm} "
                         f"--dport {sp.node_port} -j {ext_target}")
    if sp.health_check_node_port:
        frag["filter", n.NODEPORTS].append(
            f'-A {n.NODEPORTS} {_c(f"{spn} health check node port")} -m tcp -p tcp '
            f"--dport {sp.health_check_node_port} -j ACCEPT")

    if has_internal:
        match = f'{_c(f"{spn} cluster IP")} {pm} -d {sp.cluster_ip} {dport}'
        if cfg.masquerade_all:
            frag["nat", internal_chain].append(f"-A {internal_chain} {match} -j {n.MARK_MASQ}")
        elif cfg.cluster_cidr:
            frag["nat", internal_chain].append(f"-A {internal_chain} {match} ! -s {cfg.cluster_cidr} -j {n.MARK_MASQ}")
    if uses_ext:
        rules = frag["nat", ext]
        if not sp.external_policy_local:
            rules.append(f'-A {ext} {_c(f"masquerade traffic for {spn} external destinations")} -j {n.MARK_MASQ}')
        else:
            if cfg.cluster_cidr:
                rules.append(f'-A {ext} {_c(f"pod traffic for {spn} external destinations")} '
                             f"-s {cfg.cluster_cidr} -j {svc}")
            rules.append(f'-A {ext} {_c(f"masquerade LOCAL traffic for {spn} external destinations")} '
                         f"-m addrtype --src-type LOCAL -j {n.MARK_MASQ}")
            rules.append(f'-A {ext} {_c(f"route LOCAL traffic for {spn} external destinations")} '
                         f"-m addrtype --src-type LOCAL -j {svc}")
        if has_external:
            rules.append(f"-A {ext} -j {external_policy}")
    if uses_fw:
        rules = frag["nat", fw]
        for cidr in sp.lb_source_ranges:
            rules.append(f'-A {fw} {_c(f"{spn} loadbalancer IP")} -s {cidr} -j {ext}')
        rules.append(f'-A {fw} {_c(f"other traffic to {spn} will be dropped by {n.PROXY_FIREWALL}")}')
    if uses_cluster:
        _endpoint_rules(frag, sp, svc, cluster_eps)
    if uses_local:
        _endpoint_rules(frag, sp, svl, local_eps)
    for e in reachable.values():
        sep = n.sep_chain(spn, proto, e.addr)
        rules = frag["nat", sep]
        rules.append(f"-A {sep} {_c(spn)} -s {e.ip} -j {n.MARK_MASQ}")
        recent = f"-m recent --name {sep} --set " if sp.affinity_timeout else ""
        rules.append(f"-A {sep} {_c(spn)} {recent}{pm} -j DNAT --to-destination {e.addr}")
    return {k: v for k, v in frag.items() if v or k[1] not in _SHARED}


def assemble(fragments: Iterable[Fragment], cfg: RuleConfig) -> Ruleset:
    """Base chains + fragments (in the given order) + the final nodeports jump."""
    rs = base_rules(cfg)
    for frag in fragments:
        for key, lines in frag.items():
            if key[1] in _SHARED:
                rs[key].extend(lines)
            else:
                rs[key] = lines
    if cfg.service_cidr:
        rs["filter", n.SERVICES].append(
            f'-A {n.SERVICES} {_c("service CIDR address without a service")} -d {cfg.service_cidr} '
            "-j REJECT --reject-with icmp-host-unreachable")
    local = "-m addrtype --dst-type LOCAL" + ("" if cfg.localhost_nodeports else " ! -d 127.0.0.0/8")
    rs["nat", n.SERVICES].append(
        f'-A {n.SERVICES} {_c("kubernetes service nodeports; NOTE: this must be the last rule in this chain")} '
        f"{local} -j {n.NODEPORTS}")
    return rs
