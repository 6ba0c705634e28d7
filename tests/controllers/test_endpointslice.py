"""EndpointSlices: labels, owner, conditions from readiness and termination, 100 per slice."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.support.controllers import running_controllers
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import Client
from tugboat.controllers.endpointslice import EndpointSliceController

S = default_scheme()


PODS = _rt("", "v1", "pods")
SVCS = _rt("", "v1", "services")
SLICES = _rt("discovery.k8s.io", "v1", "endpointslices")
NODES = _rt("", "v1", "nodes")


def controller() -> contextlib.AbstractAsyncContextManager[Client]:
    return running_controllers(EndpointSliceController)


async def make_pod(client: Client, name: str, ip: str, *, ready: bool = True, node: str = "n1") -> None:
    body = {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [
                {"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}]}]}}
    pod = await client.create(PODS, body, "default")
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.update_status(PODS, pod)


async def slices(client: Client, svc: str = "web") -> list[dict[str, Any]]:
    res = await client.list(SLICES, "default", label_selector=f"kubernetes.io/service-name={svc}")
    return list(res["items"])


def by_ip(sls: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["addresses"][0]: e for s in sls for e in s.get("endpoints") or ()}


async def test_slices_carry_conditions_labels_owner_and_zone() -> None:
    async with controller() as client:
        await client.create(NODES, {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}}})
        await make_pod(client, "a", "10.0.0.1")
        await make_pod(client, "b", "10.0.0.2", ready=False)
        svc = await client.create(SVCS, {"metadata": {"name": "web", "labels": {"tier": "front"}},
                                         "spec": {"selector": {"app": "web"},
                                                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
                                  "default")

        async def two() -> Any:
            s = await slices(client)
            return s if len(by_ip(s)) == 2 else None
        sls = await eventually(two)
        assert len(sls) == 1
        sl = sls[0]
        assert sl["addressType"] == "IPv4"
        assert sl["metadata"]["labels"] == {"tier": "front", "kubernetes.io/service-name": "web",
                                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        assert sl["metadata"]["name"].startswith("web-")
        owner = sl["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Service", "web",
                                                                                     svc["metadata"]["uid"], True)
        assert sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        eps = by_ip(sls)
        assert eps["10.0.0.1"]["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert eps["10.0.0.2"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
        assert eps["10.0.0.1"]["nodeName"] == "n1" and eps["10.0.0.1"]["zone"] == "z1"
        assert eps["10.0.0.1"]["targetRef"]["name"] == "a"

        await client.delete(PODS, "a", "default")  # bound to a node: stays, terminating

        async def terminating() -> bool:
            e = by_ip(await slices(client)).get("10.0.0.1")
            return e is not None and e["conditions"] == {"ready": False, "serving": True, "terminating": True}
        await eventually(terminating)


async def test_slices_split_at_100_endpoints_and_shrink_back() -> None:
    async with controller() as client:
        await client.create(SVCS, {"metadata": {"name": "web"},
                                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, "default")

        async def placeholder() -> Any:
            s = await slices(client)
            return s if len(s) == 1 and not s[0].get("endpoints") else None
        await eventually(placeholder)
        await asyncio.gather(*(make_pod(client, f"p{i}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(205)))

        async def split() -> Any:
            s = await slices(client)
            return s if len(by_ip(s)) == 205 else None
        sls = await eventually(split, timeout=30)
        assert sorted(len(s["endpoints"]) for s in sls) == [5, 100, 100]
        for i in range(200, 205):
            await client.delete(PODS, f"p{i}", "default", grace_period_seconds=0)

        async def shrunk() -> Any:
            s = await slices(client)
            return s if len(s) == 2 and len(by_ip(s)) == 200 else None
        await eventually(shrunk)
