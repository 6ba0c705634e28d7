"""Endpoints follow pod readiness, named ports and publishNotReadyAddresses (real API server)."""

from __future__ import annotations

import contextlib
from typing import Any

from tests.support.controllers import running_controllers
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import ApiStatusError, Client
from tugboat.controllers.endpoints import EndpointsController

S = default_scheme()


PODS = _rt("", "v1", "pods")
SVCS = _rt("", "v1", "services")
EPS = _rt("", "v1", "endpoints")


def controller() -> contextlib.AbstractAsyncContextManager[Client]:
    return running_controllers(EndpointsController)


async def make_pod(client: Client, name: str, ip: str, *, labels: dict[str, str] | None = None,
                   ready: bool = True, ports: list[dict[str, Any]] | None = None, node: str = "n1",
                   **spec: Any) -> dict[str, Any]:
    body = {"metadata": {"name": name, "labels": labels if labels is not None else {"app": "web"}},
            "spec": {"nodeName": node, **spec,
                     "containers": [{"name": "c", "image": "busybox", "ports": ports or []}]}}
    pod = await client.create(PODS, body, "default")
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return await client.update_status(PODS, pod)


async def set_ready(client: Client, name: str, ready: bool) -> None:
    await client.patch(PODS, name, {"status": {"conditions": [{"type": "Ready", "status": str(ready)}]}},
                       "default", patch_type="strategic", subresource="status")


async def make_svc(client: Client, name: str, selector: dict[str, str] | None, ports: list[dict[str, Any]],
                   **spec: Any) -> None:
    s: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        s["selector"] = selector
    await client.create(SVCS, {"metadata": {"name": name, "labels": {"tier": "front"}}, "spec": s}, "default")


async def subsets(client: Client, name: str) -> Any:
    try:
        ep = await client.get(EPS, name, "default")
    except ApiStatusError:
        return None
    return ep.get("subsets", [])


def ips(sub: dict[str, Any], field: str = "addresses") -> list[str]:
    return [a["ip"] for a in sub.get(field, [])]


async def test_endpoints_follow_readiness_and_named_ports() -> None:
    async with controller() as client:
        await make_pod(client, "a", "10.0.0.1", ports=[{"name": "http", "containerPort": 8080}])
        await make_pod(client, "b", "10.0.0.2", ready=False, ports=[{"name": "http", "containerPort": 8080}])
        await make_pod(client, "c", "10.0.0.3", ports=[{"name": "http", "containerPort": 9090}])
        await make_pod(client, "d", "10.0.0.4", ports=[{"name": "other", "containerPort": 1}])  # no "http"
        await make_pod(client, "e", "10.0.0.5", labels={"app": "db"})
        await make_svc(client, "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http"}])

        async def two_subsets() -> Any:
            s = await subsets(client, "web")
            return s if s and len(s) == 2 else None
        subs = await eventually(two_subsets)
        by_port = {sub["ports"][0]["port"]: sub for sub in subs}
        assert ips(by_port[8080]) == ["10.0.0.1"] and ips(by_port[8080], "notReadyAddresses") == ["10.0.0.2"]
        assert ips(by_port[9090]) == ["10.0.0.3"]
        assert by_port[8080]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        addr = by_port[8080]["addresses"][0]
        assert addr["nodeName"] == "n1"
        assert addr["targetRef"]["kind"] == "Pod" and addr["targetRef"]["name"] == "a"
        ep = await client.get(EPS, "web", "default")
        assert ep["metadata"]["labels"] == {"tier": "front"}

        await set_ready(client, "b", True)

        async def b_ready() -> bool:
            s = await subsets(client, "web")
            return any(ips(x) == ["10.0.0.1", "10.0.0.2"] and "notReadyAddresses" not in x for x in s or [])
        await eventually(b_ready)

        await set_ready(client, "a", False)

        async def a_not_ready() -> bool:
            s = await subsets(client, "web")
            return any(ips(x, "notReadyAddresses") == ["10.0.0.1"] for x in s or [])
        await eventually(a_not_ready)

        await client.delete(SVCS, "web", "default")

        async def gone() -> bool:
            return await subsets(client, "web") is None
        await eventually(gone)


async def test_publish_not_ready_headless_hostnames_and_selectorless() -> None:
    async with controller() as client:
        await make_svc(client, "manual", None, [{"port": 80}])
        await client.create(EPS, {"metadata": {"name": "manual"},
                                  "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]},
                            "default")
        await make_pod(client, "db-0", "10.0.1.1", labels={"app": "db"}, ready=False, hostname="db-0",
                       subdomain="db")
        await make_svc(client, "db", {"app": "db"}, [{"port": 5432}], clusterIP="None",
                       publishNotReadyAddresses=True)

        async def published() -> Any:
            s = await subsets(client, "db")
            return s if s and s[0].get("addresses") else None
        subs = await eventually(published)
        assert subs[0]["addresses"][0]["hostname"] == "db-0"
        assert subs[0]["addresses"][0]["ip"] == "10.0.1.1"
        ep = await client.get(EPS, "db", "default")
        assert ep["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
        # A Service without a selector (queued before "db"): the user's Endpoints stay as written.
        assert ips((await subsets(client, "manual"))[0]) == ["192.0.2.1"]


async def test_empty_service_gets_empty_endpoints_and_terminating_pods_leave() -> None:
    async with controller() as client:
        await make_svc(client, "web", {"app": "web"}, [{"port": 80}])

        async def exists() -> bool:
            return await subsets(client, "web") == []
        await eventually(exists)
        await make_pod(client, "a", "10.0.0.1")

        async def one() -> bool:
            s = await subsets(client, "web")
            return bool(s) and ips(s[0]) == ["10.0.0.1"]
        await eventually(one)
        await client.delete(PODS, "a", "default")  # bound: graceful, stays terminating
        await eventually(exists)
