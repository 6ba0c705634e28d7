"""Rule generation (pure): the rule set for representative Services, checked line by line
where the exact text is the contract (chain wiring, probabilities, affinity, policies)."""

from __future__ import annotations

from typing import Any

from tugboat.proxy import names as n
from tugboat.proxy.model import port_endpoints, service_ports
from tugboat.proxy.rules import RuleConfig, Ruleset, assemble, service_fragment

CFG = RuleConfig(node_name="n1", cluster_cidr="10.244.0.0/16", service_cidr="10.96.0.0/12")


def svc(name: str = "web", *, ports: list[dict[str, Any]] | None = None, status: Any = None, **spec: Any) -> dict:
    spec.setdefault("clusterIP", "10.96.0.10")
    spec["ports"] = ports or [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    return {"metadata": {"namespace": "ns1", "name": name}, "spec": spec, "status": status or {}}


def ep(ip: str, node: str = "n1", ready: bool = True, serving: bool | None = None, terminating: bool = False) -> dict:
    serving = ready if serving is None else serving
    return {"addresses": [ip], "nodeName": node,
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}


def slice_(*eps: dict, ports: list[dict[str, Any]] | None = None, family: str = "IPv4") -> dict:
    return {"addressType": family, "endpoints": list(eps),
            "ports": ports or [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def build(service: dict, *slices: dict, cfg: RuleConfig = CFG) -> Ruleset:
    frags = [service_fragment(sp, port_endpoints(sp, list(slices)), cfg) for sp in service_ports(service)]
    return assemble(frags, cfg)


def nat(rs: Ruleset, chain: str) -> list[str]:
    return rs["nat", chain]


SPN = "ns1/web:http"
SVC = n.svc_chain(SPN, "tcp")
SVL = n.svl_chain(SPN, "tcp")
EXT = n.ext_chain(SPN, "tcp")


def test_chain_names_are_upstreams_hash_and_fit_iptables() -> None:
    assert SVC.startswith("TUGBOAT-SVC-") and len(SVC) == 28 and n.is_ours(SVC)
    assert n.sep_chain(SPN, "tcp", "10.244.0.5:8080") != n.sep_chain(SPN, "tcp", "10.244.0.6:8080")
    assert n.svc_chain(SPN, "tcp") != n.svc_chain(SPN, "udp")
    assert not n.is_ours("TUGBOAT-MASQ-br0") and not n.is_ours("KUBE-SERVICES")


def test_cluster_ip_spreads_with_decreasing_probabilities_and_dnats_each_endpoint() -> None:
    rs = build(svc(type="ClusterIP"), slice_(ep("10.244.0.5"), ep("10.244.1.5", "n2"), ep("10.244.2.5", "n3")))
    assert nat(rs, n.SERVICES)[0] == (f'-A TUGBOAT-SERVICES -m comment --comment "{SPN} cluster IP" -m tcp -p tcp '
                                      f"-d 10.96.0.10 --dport 80 -j {SVC}")
    assert nat(rs, n.SERVICES)[-1].endswith("-m addrtype --dst-type LOCAL -j TUGBOAT-NODEPORTS")
    chain = nat(rs, SVC)
    assert chain[0].endswith("! -s 10.244.0.0/16 -j TUGBOAT-MARK-MASQ")  # off-cluster sources masqueraded
    assert "--probability 0.3333333333" in chain[1] and "--probability 0.5000000000" in chain[2]
    assert "statistic" not in chain[3]
    sep = n.sep_chain(SPN, "tcp", "10.244.1.5:8080")
    assert chain[2].endswith(f"-j {sep}")
    assert nat(rs, sep) == [
        f'-A {sep} -m comment --comment "{SPN}" -s 10.244.1.5 -j TUGBOAT-MARK-MASQ',  # hairpin
        f'-A {sep} -m comment --comment "{SPN}" -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080']
    assert ("nat", EXT) not in rs  # ClusterIP: nothing external


def test_unready_endpoints_are_skipped_and_terminating_serving_ones_are_the_fallback() -> None:
    rs = build(svc(type="ClusterIP"), slice_(ep("10.244.0.5"), ep("10.244.0.6", ready=False)))
    assert not any("10.244.0.6" in line for line in nat(rs, SVC))
    rs = build(svc(type="ClusterIP"), slice_(ep("10.244.0.6", ready=False, serving=True, terminating=True),
                                             ep("10.244.0.7", ready=False, serving=False, terminating=True)))
    assert [line.rsplit(" -> ", 1)[1].split('"')[0] for line in nat(rs, SVC)[1:]] == ["10.244.0.6:8080"]


def test_no_endpoints_rejects_in_filter_and_writes_no_nat_chains() -> None:
    rs = build(svc(type="NodePort"), slice_())
    assert not any(k[1].startswith(("TUGBOAT-SVC-", "TUGBOAT-SEP-", "TUGBOAT-EXT-")) for k in rs)
    f = rs["filter", n.SERVICES]
    assert f[0].endswith("-m addrtype --src-type LOCAL -m tcp -p tcp -d 10.96.0.10 --dport 80 "
                         "-j REJECT --reject-with tcp-reset")
    assert f[1] == (f'-A TUGBOAT-SERVICES -m comment --comment "{SPN} has no endpoints" -m tcp -p tcp '
                    "-d 10.96.0.10 --dport 80 -j REJECT")
    assert f[-1].endswith("-d 10.96.0.0/12 -j REJECT --reject-with icmp-host-unreachable")
    assert rs["filter", n.EXTERNAL_SERVICES] == [
        f'-A TUGBOAT-EXTERNAL-SERVICES -m comment --comment "{SPN} has no endpoints" -m addrtype --dst-type LOCAL '
        "-m tcp -p tcp --dport 30080 -j REJECT"]


def test_session_affinity_checks_recent_lists_before_the_random_spread() -> None:
    rs = build(svc(type="ClusterIP", sessionAffinity="ClientIP"), slice_(ep("10.244.0.5"), ep("10.244.0.6")))
    sep = n.sep_chain(SPN, "tcp", "10.244.0.5:8080")
    chain = nat(rs, SVC)
    assert f"-m recent --name {sep} --rcheck --seconds 10800 --reap -j {sep}" in chain[1]
    assert "statistic" in chain[3]
    assert f"-m recent --name {sep} --set -m tcp -p tcp -j DNAT" in nat(rs, sep)[1]
    rs = build(svc(type="ClusterIP", sessionAffinity="ClientIP",
                   sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}), slice_(ep("10.244.0.5")))
    assert "--seconds 60 --reap" in nat(rs, SVC)[1]


def test_nodeport_cluster_policy_masquerades_external_traffic() -> None:
    rs = build(svc(type="NodePort"), slice_(ep("10.244.0.5"), ep("10.244.1.5", "n2")))
    assert nat(rs, n.NODEPORTS) == [
        f'-A TUGBOAT-NODEPORTS -m comment --comment "{SPN}" -m tcp -p tcp --dport 30080 -j {EXT}']
    assert nat(rs, EXT) == [
        f'-A {EXT} -m comment --comment "masquerade traffic for {SPN} external destinations" -j TUGBOAT-MARK-MASQ',
        f"-A {EXT} -j {SVC}"]


def test_external_traffic_policy_local_uses_only_local_endpoints_without_snat() -> None:
    rs = build(svc(type="NodePort", externalTrafficPolicy="Local", healthCheckNodePort=31000),
               slice_(ep("10.244.0.5", "n1"), ep("10.244.1.5", "n2")))
    ext = nat(rs, EXT)
    assert ext[0].endswith(f"-s 10.244.0.0/16 -j {SVC}")  # pods short-circuit to all endpoints
    assert "--src-type LOCAL -j TUGBOAT-MARK-MASQ" in ext[1] and ext[-1] == f"-A {EXT} -j {SVL}"
    assert [line for line in nat(rs, SVL)] == [
        f'-A {SVL} -m comment --comment "{SPN} -> 10.244.0.5:8080" -j {n.sep_chain(SPN, "tcp", "10.244.0.5:8080")}']
    assert len(nat(rs, SVC)) == 3  # cluster IP still uses both (internalTrafficPolicy Cluster)
    assert "--dport 31000 -j ACCEPT" in rs["filter", n.NODEPORTS][0]
    # no local endpoint: external traffic dropped, cluster IP still served
    rs = build(svc(type="NodePort", externalTrafficPolicy="Local"), slice_(ep("10.244.1.5", "n2")))
    assert rs["filter", n.EXTERNAL_SERVICES][0].endswith("--dport 30080 -j DROP")
    assert f"-A {EXT} -j {SVL}" not in nat(rs, EXT) and ("nat", SVL) not in rs
    assert ("nat", SVC) in rs


def test_internal_traffic_policy_local() -> None:
    rs = build(svc(type="ClusterIP", internalTrafficPolicy="Local"), slice_(ep("10.244.0.5"), ep("10.244.1.5", "n2")))
    assert nat(rs, n.SERVICES)[0].endswith(f"-j {SVL}") and ("nat", SVC) not in rs
    rs = build(svc(type="ClusterIP", internalTrafficPolicy="Local"), slice_(ep("10.244.1.5", "n2")))
    assert '"ns1/web:http has no local endpoints"' in rs["filter", n.SERVICES][0]
    assert rs["filter", n.SERVICES][0].endswith("-j DROP")


def test_load_balancer_ips_and_source_ranges() -> None:
    status = {"loadBalancer": {"ingress": [{"ip": "192.168.1.5"}, {"ip": "192.168.1.6", "ipMode": "Proxy"}]}}
    rs = build(svc(type="LoadBalancer", status=status), slice_(ep("10.244.0.5")))
    assert f'"{SPN} loadbalancer IP" -m tcp -p tcp -d 192.168.1.5 --dport 80 -j {EXT}' in nat(rs, n.SERVICES)[1]
    assert not any("192.168.1.6" in line for line in nat(rs, n.SERVICES))
    rs = build(svc(type="LoadBalancer", status=status, loadBalancerSourceRanges=["1.2.3.0/24"]), slice_(ep("10.244.0.5")))
    fw = n.fw_chain(SPN, "tcp")
    assert nat(rs, n.SERVICES)[1].endswith(f"-j {fw}") and "-s 1.2.3.0/24 -j " + EXT in nat(rs, fw)[0]
    assert rs["filter", n.PROXY_FIREWALL][0].endswith("-d 192.168.1.5 --dport 80 -j DROP")


def test_headless_external_name_ipv6_and_protocols() -> None:
    assert service_ports(svc(clusterIP="None")) == []
    assert service_ports({"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "a.b"}}) == []
    assert service_ports(svc(clusterIP="fd00::1", clusterIPs=["fd00::1"])) == []
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
             {"name": "s", "port": 9, "protocol": "SCTP"}]
    sl = slice_(ep("10.244.0.5"), ports=[{"name": "dns", "port": 5353, "protocol": "UDP"},
                                         {"name": "dns-tcp", "port": 5353, "protocol": "TCP"},
                                         {"name": "s", "port": 99, "protocol": "SCTP"}])
    rs = build(svc(type="ClusterIP", ports=ports), sl, slice_(ep("fd00::5"), family="IPv6"))
    lines = nat(rs, n.SERVICES)
    assert "-m udp -p udp -d 10.96.0.10 --dport 53" in lines[0] and "-m tcp -p tcp" in lines[1]
    assert "-m sctp -p sctp -d 10.96.0.10 --dport 9" in lines[2]
    assert any("DNAT --to-destination 10.244.0.5:99" in line for k, v in rs.items() for line in v)
    assert not any("fd00" in line for v in rs.values() for line in v)


def test_duplicate_endpoints_across_slices_are_programmed_once() -> None:
    rs = build(svc(type="ClusterIP"), slice_(ep("10.244.0.5", ready=False)), slice_(ep("10.244.0.5")))
    assert len(nat(rs, SVC)) == 2  # masq rule + one endpoint


def test_localhost_nodeports_off_excludes_127() -> None:
    cfg = RuleConfig(node_name="n1", localhost_nodeports=False)
    rs = build(svc(type="ClusterIP"), slice_(), cfg=cfg)
    assert nat(rs, n.SERVICES)[-1].endswith("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j TUGBOAT-NODEPORTS")
    assert rs["filter", n.FIREWALL] == []
