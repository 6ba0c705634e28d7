"""ServiceLB (k3s-style) against the in-process API server: node addresses land in
status.loadBalancer.ingress of LoadBalancer Services, and follow the nodes."""

from __future__ import annotations

from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.client import InformerFactory
from tugboat.proxy.servicelb import ServiceLB, node_ingress

SVC = rt("", "v1", "services")
NODE = rt("", "v1", "nodes")


def node(name: str, *addrs: tuple[str, str], ready: str | None = "True", labels: Any = None) -> dict[str, Any]:
    status: dict[str, Any] = {"addresses": [{"type": t, "address": a} for t, a in addrs]}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"metadata": {"name": name, "labels": labels or {}}, "status": status}


def test_node_ingress_prefers_external_ip_and_skips_unready_and_excluded_nodes() -> None:
    nodes = [node("a", ("InternalIP", "10.0.0.2")), node("b", ("InternalIP", "10.0.0.3"), ("ExternalIP", "1.2.3.4")),
             node("c", ("InternalIP", "10.0.0.4"), ready="False"),
             node("d", ("InternalIP", "10.0.0.5"), labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
             node("e", ("InternalIP", "10.0.0.10"), ready=None)]
    assert node_ingress(nodes) == [{"ip": "1.2.3.4"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.10"}]
    nodes.append(node("f", ("InternalIP", "10.0.0.9"), labels={"svccontroller.k3s.cattle.io/enablelb": "true"}))
    assert node_ingress(nodes) == [{"ip": "10.0.0.9"}]


async def test_load_balancer_status_follows_the_nodes() -> None:
    async with running_apiserver() as (_, client):
        await client.create(NODE, node("n1", ("InternalIP", "10.0.0.2")))
        await client.create(SVC, {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer",
                                                                       "ports": [{"port": 80}]}}, "default")
        await client.create(SVC, {"metadata": {"name": "other"}, "spec": {
            "type": "LoadBalancer", "loadBalancerClass": "example.com/lb", "ports": [{"port": 80}]}}, "default")
        informers = InformerFactory(client)
        lb = ServiceLB(client, informers)
        lb.setup()
        informers.start()
        await informers.wait_for_sync()
        lb.start()
        try:
            async def ingress(name: str = "lb") -> Any:
                svc = await client.get(SVC, name, "default")
                return [i["ip"] for i in (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []]
            await eventually(lambda: _eq(ingress(), ["10.0.0.2"]), what="first node's address")
            await client.create(NODE, node("n2", ("InternalIP", "10.0.0.1")))
            await eventually(lambda: _eq(ingress(), ["10.0.0.1", "10.0.0.2"]), what="second node added")
            await client.delete(NODE, "n1")
            await eventually(lambda: _eq(ingress(), ["10.0.0.1"]), what="first node removed")
            assert await ingress("other") == []  # another controller's class: untouched
            assert await lb.sync() == 0  # level-triggered: nothing left to write
        finally:
            await lb.stop()
            await informers.stop()


async def _eq(value: Any, want: Any) -> bool:
    return await value == want
