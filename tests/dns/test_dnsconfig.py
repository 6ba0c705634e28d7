"""tugboat.node.dnsconfig: a pod's resolv.conf per dnsPolicy, as the kubelet builds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tugboat.node.dnsconfig import parse_resolv_conf, pod_dns, pod_resolv_conf

HOST = """# generated
nameserver 192.0.2.53
nameserver 192.0.2.54
search corp.example. lab.example
options timeout:2 attempts:3
"""


@pytest.fixture
def host(tmp_path: Path) -> str:
    p = tmp_path / "resolv.conf"
    p.write_text(HOST)
    return str(p)


def pod(ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": ns}, "spec": {"containers": [{"name": "c"}], **spec}}


def conf(p: dict[str, Any], host: str, cluster_dns: list[str] | None = None) -> str:
    return pod_resolv_conf(p, cluster_dns=["10.96.0.10"] if cluster_dns is None else cluster_dns,
                           cluster_domain="cluster.local", host_resolv=host)


def test_cluster_first_is_the_default_policy(host: str) -> None:
    assert conf(pod(), host) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n")
    assert conf(pod(dnsPolicy="ClusterFirst"), host) == conf(pod(), host)


def test_host_network_pods_fall_back_to_default_unless_with_host_net(host: str) -> None:
    default = conf(pod(dnsPolicy="Default"), host)
    assert conf(pod(dnsPolicy="ClusterFirst", hostNetwork=True), host) == default
    assert "nameserver 10.96.0.10" in conf(pod(dnsPolicy="ClusterFirstWithHostNet", hostNetwork=True), host)


def test_default_uses_the_host_resolv_conf(host: str) -> None:
    assert conf(pod(dnsPolicy="Default"), host) == (
        "search corp.example lab.example\n"
        "nameserver 192.0.2.53\nnameserver 192.0.2.54\n"
        "options timeout:2 attempts:3\n")


def test_cluster_first_without_cluster_dns_falls_back_with_a_warning(host: str) -> None:
    d = pod_dns(pod(), cluster_dns=[], cluster_domain="cluster.local", host_resolv=host)
    assert d.servers == ["192.0.2.53", "192.0.2.54"]
    assert d.warnings[0][0] == "MissingClusterDNS"


def test_none_uses_only_dns_config(host: str) -> None:
    p = pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.2.3.4"], "searches": ["ns1.example"],
                                         "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})
    assert conf(p, host) == "search ns1.example\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"


def test_dns_config_is_merged_into_cluster_first(host: str) -> None:
    p = pod(dnsConfig={"nameservers": ["10.96.0.10", "1.1.1.1"], "searches": ["cluster.local", "extra.example"],
                       "options": [{"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]})
    d = pod_dns(p, cluster_dns=["10.96.0.10"], cluster_domain="cluster.local", host_resolv=host)
    assert d.servers == ["10.96.0.10", "1.1.1.1"]  # duplicates dropped
    assert d.searches == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example",
                          "lab.example", "extra.example"]
    assert d.options == ["ndots:1", "single-request-reopen"]  # the pod's value wins


def test_limits_three_nameservers_and_32_search_domains(host: str) -> None:
    p = pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"],
                                         "searches": [f"d{i}.example" for i in range(40)] + ["x" * 254]})
    d = pod_dns(p, cluster_dns=[], cluster_domain="cluster.local", host_resolv=host)
    assert d.servers == ["1.1.1.1", "1.1.1.2", "1.1.1.3"]
    assert d.searches == [f"d{i}.example" for i in range(32)]
    reasons = [w for w in d.warnings if w[0] == "DNSConfigForming"]
    assert len(reasons) == 2
    assert reasons[0][1].startswith("Nameserver limits were exceeded, some nameservers have been omitted, "
                                    "the applied nameserver line is: 1.1.1.1 1.1.1.2 1.1.1.3")
    assert reasons[1][1].startswith("Search Line limits were exceeded")


def test_search_line_is_cut_to_2048_characters(host: str) -> None:
    long = [f"{'a' * 200}-{i}.example" for i in range(12)]  # 12 x ~212 chars
    d = pod_dns(pod(dnsPolicy="None", dnsConfig={"searches": long}), cluster_dns=[], cluster_domain="c",
                host_resolv=host)
    assert len(" ".join(d.searches)) <= 2048 and d.searches == long[:len(d.searches)] and len(d.searches) == 9


def test_empty_host_resolv_means_localhost_only() -> None:
    assert conf(pod(dnsPolicy="Default"), "") == "search .\nnameserver 127.0.0.1\n"


def test_parse_resolv_conf_last_search_and_options_win() -> None:
    servers, searches, options = parse_resolv_conf(
        "nameserver 1.1.1.1\nsearch a.example\nsearch b.example.\n# nameserver 9.9.9.9\n"
        "options ndots:1\noptions rotate\nnameserver 2.2.2.2\n")
    assert servers == ["1.1.1.1", "2.2.2.2"] and searches == ["b.example"] and options == ["rotate"]


def test_sandbox_dns_shape(host: str) -> None:
    d = pod_dns(pod(), cluster_dns=["10.96.0.10"], cluster_domain="cluster.local", host_resolv=host)
    assert d.as_sandbox_dns()["servers"] == ["10.96.0.10"]
    assert d.as_sandbox_dns()["options"] == ["ndots:5"]
