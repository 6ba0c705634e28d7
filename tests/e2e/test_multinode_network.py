"""The pod network across nodes, Services and NetworkPolicy on two real nodes (issue 5).

tests/e2e/multinode.py builds the cluster: one `tug server`, two agents each in its own
network namespace (host-gw routes, network policy, own pod bridge and podCIDR), a `tug proxy`
per node and `tug dns`. A busybox `httpd` pod on node 1 serves its hostname; busybox client
pods on node 0 reach it with `wget` through `kubectl exec`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.multinode import MultiNode, multi_node, multinode_skip_reason, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(multinode_skip_reason()),
                                                  reason=multinode_skip_reason() or "ok"),
              pytest.mark.timeout(600)]


def web_pod(name: str, node: str, labels: dict[str, str]) -> dict[str, Any]:
    script = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "web", "image": "busybox", "command": ["sh", "-c", script],
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


def client_pod(name: str, node: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


def running(p: dict[str, Any]) -> bool:
    return (p.get("status") or {}).get("phase") == "Running" and bool((p.get("status") or {}).get("podIP"))


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
            "spec": spec}


@pytest.fixture(scope="module")
def cluster() -> Iterator[MultiNode]:
    with multi_node(n=2) as c:
        yield c


@pytest.fixture(scope="module")
def app(cluster: MultiNode) -> dict[str, Any]:
    """ns with web (node 1) + Service, client (node 0); ns2 (team=other) with client2 (node 0)."""
    c = cluster
    ns = c.new_namespace({"team": "main"})
    ns2 = c.new_namespace({"team": "other"})
    n0, n1 = c.nodes[0].name, c.nodes[1].name
    c.create(web_pod("web", n1, {"app": "web"}), client_pod("client", n0, {"app": "client"}), ns=ns)
    c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}, ns=ns)
    c.create(client_pod("client2", n0, {"app": "client"}), ns=ns2)
    web = c.wait_pod(ns, "web", running, what="web running")
    c.wait_pod(ns, "client", running, what="client running")
    c.wait_pod(ns2, "client2", running, what="client2 running")
    assert web["spec"]["nodeName"] == n1
    svc = c.get("-n", ns, "service", "web")
    return {"ns": ns, "ns2": ns2, "web_ip": web["status"]["podIP"], "vip": svc["spec"]["clusterIP"]}


def fetch(c: MultiNode, ns: str, pod: str, url: str) -> str:
    """The page, or '' when wget fails (refused, timed out, no name). (`timeout`, not wget's -T:
    this busybox's wget crashes with -T.)"""
    p = c.kubectl("-n", ns, "exec", pod, "--", "timeout", "5", "wget", "-qO-", url, check=False, timeout=60)
    return p.stdout.strip() if p.returncode == 0 else ""


def test_pods_get_subnets_of_the_cluster_cidr_and_routes_to_each_other(cluster: MultiNode) -> None:
    c = cluster
    cidrs = [c.pod_cidr(i) for i in range(2)]
    assert cidrs[0] != cidrs[1] and all(x.startswith("10.244.") for x in cidrs)
    assert f"{cidrs[1]} via {c.nodes[1].ip}" in c.routes(0)
    assert f"{cidrs[0]} via {c.nodes[0].ip}" in c.routes(1)
    assert "unreachable 10.244.0.0/16" in c.routes(0)


def test_pod_reaches_pod_on_other_node_by_ip_vip_and_dns_name(cluster: MultiNode, app: dict[str, Any]) -> None:
    c, ns = cluster, app["ns"]
    assert wait_for(lambda: fetch(c, ns, "client", f"http://{app['web_ip']}:8080") == "web", 60, "pod IP")
    assert wait_for(lambda: fetch(c, ns, "client", f"http://{app['vip']}/") == "web", 60, "ClusterIP")
    assert wait_for(lambda: fetch(c, ns, "client", "http://web/") == "web", 60, "short DNS name")
    assert fetch(c, ns, "client", f"http://web.{ns}.svc.cluster.local/") == "web"


def test_network_policy_default_deny_then_allow_by_pod_and_namespace(cluster: MultiNode,
                                                                    app: dict[str, Any]) -> None:
    c, ns, ns2 = cluster, app["ns"], app["ns2"]
    url = f"http://{app['web_ip']}:8080"
    assert wait_for(lambda: fetch(c, ns, "client", url) == "web", 60, "open before policies")
    assert fetch(c, ns2, "client2", url) == "web"
    try:
        c.create(policy("deny-all", {"podSelector": {}}), ns=ns)
        wait_for(lambda: fetch(c, ns, "client", url) == "", 60, "default deny blocks the client")
        assert fetch(c, ns2, "client2", url) == ""
        assert fetch(c, ns, "client", "http://web/") == ""  # through the VIP too

        c.create(policy("web-from-clients", {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                         "ports": [{"port": "http"}]}]}), ns=ns)
        wait_for(lambda: fetch(c, ns, "client", url) == "web", 60, "allow rule lets the client in")
        assert fetch(c, ns, "client", "http://web/") == "web"
        assert fetch(c, ns2, "client2", url) == ""  # same labels, other namespace: still blocked

        c.create(policy("web-from-team-other", {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "other"}}}]}]}), ns=ns)
        wait_for(lambda: fetch(c, ns2, "client2", url) == "web", 60, "namespace selector lets client2 in")

        # egress isolation of the client (DNS and web not allowed): blocked at its own node.
        # (The allow rules above only work because the web pod's node sees the client's own pod
        # IP: no masquerading between nodes.)
        c.create(policy("client-egress", {"podSelector": {"matchLabels": {"app": "client"}},
                                          "policyTypes": ["Egress"]}), ns=ns)
        wait_for(lambda: fetch(c, ns, "client", url) == "", 60, "egress deny")
    finally:
        c.kubectl("-n", ns, "delete", "networkpolicy", "--all", check=False)
    wait_for(lambda: fetch(c, ns, "client", url) == "web", 60, "open again without policies")


def test_node_leaving_removes_its_route_and_rejoining_restores_it(cluster: MultiNode,
                                                                  app: dict[str, Any]) -> None:
    c, ns = cluster, app["ns"]
    cidr1 = c.pod_cidr(1)
    c.kubectl("-n", ns, "delete", "pod", "web", "--wait=true", timeout=120)
    c.stop_agent(1)
    c.kubectl("delete", "node", c.nodes[1].name)
    wait_for(lambda: cidr1 not in c.routes(0), 60, "route to the deleted node's podCIDR removed")
    assert "unreachable 10.244.0.0/16" in c.routes(0)
    c.start_agent(1)
    c.nodes[1].pod_cidr = wait_for(lambda: c.pod_cidr(1), 60, "podCIDR after rejoining")
    wait_for(lambda: f"{c.nodes[1].pod_cidr} via {c.nodes[1].ip}" in c.routes(0), 60, "route back")


def test_cut_off_isolates_a_node_until_reconnected(cluster: MultiNode) -> None:
    c = cluster

    def ping(i: int, ip: str) -> bool:
        return "1 packets received" in c.nodes[i].in_ns("busybox", "ping", "-c", "1", "-W", "1", ip, check=False)
    assert ping(0, c.nodes[1].ip)
    c.cut_off(1)
    try:
        assert not ping(0, c.nodes[1].ip)
        assert not ping(1, c.host_ip)  # nor does it reach the API server
    finally:
        c.reconnect(1)
    wait_for(lambda: ping(0, c.nodes[1].ip), 30, "node 1 reachable again")
