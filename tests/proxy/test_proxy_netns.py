"""The service proxy against real iptables, in network namespaces the test builds (netenv.py).

A real in-process API server holds Services and EndpointSlices (created directly, no
controller); the proxy programs the "node" netns; clients in other netns connect through
ClusterIPs, NodePorts and LoadBalancer addresses to TCP servers in "pod" netns.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.proxy.netenv import EXT_IP, NODE_IP, PODS, SERVER_PORT, NetEnv
from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.client import Client
from tugboat.proxy import ProxyConfig, ServiceProxy

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables-restore"),
                                reason="needs root and iptables")
SVC = rt("", "v1", "services")
SLICE = rt("discovery.k8s.io", "v1", "endpointslices")
NODE = rt("", "v1", "nodes")
NODE_NAME = "tgpx-node"


class Env:
    def __init__(self, net: NetEnv, client: Client, proxy: ServiceProxy):
        self.net, self.client, self.proxy = net, client, proxy

    async def service(self, name: str, **spec: Any) -> dict[str, Any]:
        spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": SERVER_PORT}])
        return await self.client.create(SVC, {"metadata": {"name": name}, "spec": spec}, "default")

    async def endpoints(self, svc: str, pods: dict[str, bool], *, node: str = NODE_NAME) -> dict[str, Any]:
        """Create or replace the Service's one slice: pod name → ready."""
        body: dict[str, Any] = {"metadata": {"name": f"{svc}-x", "labels": {"kubernetes.io/service-name": svc}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": SERVER_PORT, "protocol": "TCP"}],
                "endpoints": [{"addresses": [PODS[p]], "nodeName": node,
                               "conditions": {"ready": r, "serving": r, "terminating": False}}
                              for p, r in pods.items()]}
        try:
            old = await self.client.get(SLICE, f"{svc}-x", "default")
        except Exception:  # noqa: BLE001
            return await self.client.create(SLICE, body, "default")
        body["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return await self.client.update(SLICE, body, "default")

    async def answered(self, ip: str, port: int, frm: str = "c") -> list[str]:
        """One connection's answer, or [] if it failed (for polling until rules are live)."""
        lines = await self.net.connect(ip, port, frm=frm)
        return [] if lines[0].startswith("ERR:") else lines

    async def answers(self, ip: str, port: int, n: int = 30, frm: str = "c") -> Counter[str]:
        return Counter(line.split()[0] for line in await self.net.connect(ip, port, n, frm=frm))


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    net = NetEnv()
    try:
        net.setup()
        net.start_servers()
        localnet = net.ns("sysctl", "-n", "net.ipv4.conf.all.route_localnet").strip()
        async with running_apiserver() as (_, client):
            await client.create(NODE, {"metadata": {"name": NODE_NAME}, "status": {
                "addresses": [{"type": "InternalIP", "address": NODE_IP}]}})
            proxy = ServiceProxy(client, ProxyConfig(node_name=NODE_NAME, netns=net.node, min_sync_period=0.05,
                                                     resync_period=1.0))
            await proxy.start()
            try:
                yield Env(net, client, proxy)
            finally:
                await proxy.stop()
        assert net.ns("sysctl", "-n", "net.ipv4.conf.all.route_localnet").strip() == localnet
    finally:
        net.close()


async def test_cluster_ip_spreads_over_ready_endpoints_and_an_unready_one_gets_no_traffic(env: Env) -> None:
    svc = await env.service("web")
    vip = svc["spec"]["clusterIP"]
    await env.endpoints("web", {"p1": True, "p2": True, "p3": True})

    async def all_three() -> bool:
        return set(await env.answers(vip, 80)) == {"p1", "p2", "p3"}
    await eventually(all_three, what="all three backends answer on the cluster IP")

    await env.endpoints("web", {"p1": True, "p2": True, "p3": False})

    async def two() -> bool:
        return set(await env.answers(vip, 80)) == {"p1", "p2"}
    await eventually(two, what="the unready endpoint leaves the rotation")
    assert set(await env.answers(vip, 80, n=40)) == {"p1", "p2"}
    # the pod's own source address is kept (no SNAT inside the cluster CIDR)
    assert (await env.net.connect(vip, 80))[0].split()[1] == PODS["c"]


async def test_no_endpoints_rejects_and_unknown_vips_never_leave_the_node(env: Env) -> None:
    svc = await env.service("empty")
    await env.endpoints("empty", {})
    vip = svc["spec"]["clusterIP"]

    async def refused() -> bool:
        return await env.net.connect(vip, 80) == ["ERR:ECONNREFUSED"]
    await eventually(refused, what="REJECT for a service without endpoints")
    assert await env.net.connect(vip, 80, frm="node") == ["ERR:ECONNREFUSED"]
    assert "unreachable 10.96.0.0/12" in env.net.ns("ip", "route", "show")
    # a service-CIDR address no rule translates: host unreachable, right at the node
    assert await env.net.connect("10.111.222.3", 80, timeout=2.0) == ["ERR:EHOSTUNREACH"]


async def test_client_ip_affinity_sticks_to_one_backend(env: Env) -> None:
    svc = await env.service("sticky", sessionAffinity="ClientIP",
                            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    await env.endpoints("sticky", {"p1": True, "p2": True, "p3": True})
    vip = svc["spec"]["clusterIP"]
    await eventually(lambda: env.answered(vip, 80), what="sticky service answers")
    got = await env.answers(vip, 80, n=25)
    assert len(got) == 1 and sum(got.values()) == 25
    # another client is balanced independently, but sticks too
    other = await env.answers(vip, 80, n=10, frm="p1")
    assert len(other) == 1


async def test_nodeport_on_the_node_address_and_localhost_and_host_reaches_cluster_ip(env: Env) -> None:
    svc = await env.service("np", type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    await env.endpoints("np", {"p1": True, "p2": True})

    async def from_outside() -> bool:
        return set(await env.answers(NODE_IP, node_port, frm="ext")) == {"p1", "p2"}
    await eventually(from_outside, what="NodePort from outside the node")
    line = (await env.net.connect(NODE_IP, node_port, frm="ext"))[0]
    assert line.split()[1] != EXT_IP  # externalTrafficPolicy Cluster: source NATed
    assert set(await env.answers("127.0.0.1", node_port, n=20, frm="node")) <= {"p1", "p2"}
    assert set(await env.answers(svc["spec"]["clusterIP"], 80, n=20, frm="node")) == {"p1", "p2"}


async def test_external_traffic_policy_local_keeps_the_client_address(env: Env) -> None:
    svc = await env.service("local", type="NodePort", externalTrafficPolicy="Local")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    await env.endpoints("local", {"p1": True, "p2": True})
    lines = await eventually(lambda: env.answered(NODE_IP, node_port, frm="ext"), what="eTP=Local NodePort")
    assert lines[0].split()[1] == EXT_IP


async def test_load_balancer_gets_node_address_and_forwards_the_service_port(env: Env) -> None:
    await env.service("lb", type="LoadBalancer")
    await env.endpoints("lb", {"p2": True, "p3": True})

    async def ingress() -> Any:
        svc = await env.client.get(SVC, "lb", "default")
        return (svc.get("status") or {}).get("loadBalancer", {}).get("ingress")
    got = await eventually(ingress, what="status.loadBalancer.ingress")
    assert [i["ip"] for i in got] == [NODE_IP]

    async def through_lb() -> bool:
        return set(await env.answers(NODE_IP, 80, frm="ext")) == {"p2", "p3"}
    await eventually(through_lb, what="LoadBalancer address:port reaches the backends")


async def test_hairpin_a_pod_reaches_itself_through_its_service(env: Env) -> None:
    svc = await env.service("self")
    await env.endpoints("self", {"p1": True})
    lines = await eventually(lambda: env.answered(svc["spec"]["clusterIP"], 80, frm="p1"),
                             what="hairpin connection")
    name, peer = lines[0].split()
    assert name == "p1" and peer != PODS["p1"]  # masqueraded, or the reply would never come back


async def test_flushed_chain_is_rebuilt_and_stop_removes_everything(env: Env) -> None:
    svc = await env.service("flush")
    await env.endpoints("flush", {"p1": True})
    vip = svc["spec"]["clusterIP"]
    await eventually(lambda: env.answered(vip, 80), what="service answers")
    env.net.ns("iptables", "-w", "5", "-t", "nat", "-F", "TUGBOAT-SERVICES")
    env.net.ns("iptables", "-w", "5", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment",
               "kubernetes service portals", "-j", "TUGBOAT-SERVICES")
    assert await env.net.connect(vip, 80, timeout=0.5) != ["p1 " + PODS["c"]]

    async def rebuilt() -> bool:
        return await env.net.connect(vip, 80) == ["p1 " + PODS["c"]]
    await eventually(rebuilt, timeout=10, what="rules rebuilt by the periodic resync")

    await env.proxy.stop()
    assert "TUGBOAT" not in env.net.ns("iptables-save")
    assert "10.96.0.0/12" not in env.net.ns("ip", "route", "show", "table", "all")
    assert "10.96.0.0/12" not in env.net.ns("ip", "rule", "show")

    # a new proxy (a restart) programs everything again from the API
    again = ServiceProxy(env.client, ProxyConfig(node_name=NODE_NAME, netns=env.net.node, servicelb=False))
    await again.start()
    try:
        assert await env.net.connect(vip, 80) == ["p1 " + PODS["c"]]
    finally:
        await again.stop()
    assert "TUGBOAT" not in env.net.ns("iptables-save")


async def test_tug_proxy_cleanup_removes_what_a_dead_proxy_left(env: Env) -> None:
    from tugboat.cli.proxy import add_proxy_parser, run_proxy

    await env.proxy.stop(cleanup=False)  # as if killed: rules and routes stay
    assert "TUGBOAT-SERVICES" in env.net.ns("iptables-save")
    parser = argparse.ArgumentParser()
    add_proxy_parser(parser.add_subparsers(dest="cmd"))
    assert await run_proxy(parser.parse_args(["proxy", "--cleanup", "--netns", env.net.node])) == 0
    assert "TUGBOAT" not in env.net.ns("iptables-save")
    assert "10.96.0.0/12" not in env.net.ns("ip", "route", "show", "table", "all")
    assert "10.96.0.0/12" not in env.net.ns("ip", "rule", "show")
