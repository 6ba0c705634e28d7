"""Which pods a policy isolates and what it allows, rendered to iptables text (pure)."""

from __future__ import annotations

from typing import Any

from tugboat.netpol import rules
from tugboat.netpol.model import PeerIndex, compute, pod_info


def pod(ns: str, name: str, ip: str, labels: dict[str, str], node: str = "n1", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "uid": f"uid-{name}", "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080 if name != "alt" else 8181}]}], **spec},
            "status": {"phase": "Running", "podIP": ip}}


def pol(ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": "p"}, "spec": spec}


PODS = [pod("a", "web", "10.0.0.2", {"app": "web"}), pod("a", "cli", "10.0.0.3", {"app": "cli"}),
        pod("b", "alt", "10.0.1.4", {"app": "web"}, node="n2"),
        pod("a", "hostnet", "192.0.2.9", {"app": "cli"}, hostNetwork=True)]
NS = {"a": {"team": "a"}, "b": {"team": "b"}}


def run(policies: list[dict[str, Any]]) -> dict[str, Any]:
    infos = [i for i in (pod_info(p) for p in PODS) if i]
    local = [i for i in infos if i.node == "n1"]
    return {pr.pod.name: pr for pr in compute(local, policies, PeerIndex(infos, NS))}


def test_unselected_pods_are_not_isolated_and_host_network_pods_are_no_peers() -> None:
    out = run([pol("a", {"podSelector": {"matchLabels": {"app": "web"}},
                         "ingress": [{"from": [{"podSelector": {}}]}]})])
    assert set(out) == {"web"}
    assert out["web"].ingress[0].peer_ips == ["10.0.0.2", "10.0.0.3"]
    assert out["web"].egress is None


def test_policy_types_default_and_explicit_egress_only() -> None:
    out = run([pol("a", {"podSelector": {}, "egress": [{}]})])
    assert out["web"].ingress == [] and out["web"].egress is not None  # Ingress+Egress by default
    out = run([pol("a", {"podSelector": {}, "policyTypes": ["Egress"]})])
    assert out["cli"].ingress is None and out["cli"].egress == []


def test_egress_named_port_resolves_per_destination_pod() -> None:
    out = run([pol("a", {"podSelector": {"matchLabels": {"app": "cli"}}, "policyTypes": ["Egress"],
                         "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}],
                                     "ports": [{"port": "http"}]}]})])
    allow = out["cli"].egress[0]
    assert {ip: [p.port for p in pms] for ip, pms in allow.peer_ports.items()} == {"10.0.0.2": [8080],
                                                                                   "10.0.1.4": [8181]}
    text = "\n".join(rules.build(list(out.values()))[rules.pod_chain("egress", "uid-cli")])
    assert "-d 10.0.1.4/32 -p tcp -m tcp --dport 8181" in text


def test_rendered_chain_has_node_exemption_ports_and_reject_last() -> None:
    out = run([pol("a", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}],
         "ports": [{"protocol": "UDP", "port": 53, "endPort": 60}]}]})])
    rs = rules.build(list(out.values()))
    chain = rules.pod_chain("ingress", "uid-web")
    lines = rs[chain]
    assert "--src-type LOCAL" in lines[1]
    assert lines[-1].endswith("-j REJECT --reject-with icmp-port-unreachable")
    block = next(c for c in rs if c.startswith("TUGBOAT-NPB-"))
    assert rs[block][0] == f"-A {block} -s 10.0.1.0/24 -j RETURN"
    assert "-p udp -m udp --dport 53:60" in rs[block][1]
    assert any("-d 10.0.0.2/32" in ln and ln.endswith(f"-j {chain}") for ln in rs[rules.FWD])
    assert all(len(c) <= 28 and rules.is_ours(c) for c in rs)


def test_render_rewrites_only_changed_chains_and_deletes_stale_ones() -> None:
    a = {rules.FWD: ["-A TUGBOAT-NETPOL-FWD -j RETURN"], "TUGBOAT-NPI-AAAAAAAAAAAAAAAA": ["x"]}
    b = {rules.FWD: ["-A TUGBOAT-NETPOL-FWD -j RETURN"]}
    text = rules.render(b, a, set(a), [])
    assert ":TUGBOAT-NPI-AAAAAAAAAAAAAAAA - [0:0]" in text and "-X TUGBOAT-NPI-AAAAAAAAAAAAAAAA" in text
    assert f":{rules.FWD}" not in text
    assert rules.render(b, b, set(b), []) == ""
