"""DaemonSet controller against a real in-process API server with Node objects created
directly; pods are not scheduled (no scheduler here) — each names its node through the
matchFields node affinity, and readiness is simulated through pods/status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import settled as wait_for
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.client.clock import RealClock
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.daemonset import DaemonSetController
from tugboat.controllers.daemonset_nodes import should_run, target_node

S = default_scheme()
PODS = S.get("", "v1", "pods")
NODES = S.get("", "v1", "nodes")
DS = S.get("apps", "v1", "daemonsets")


@contextlib.asynccontextmanager
async def started(client: Client) -> AsyncIterator[None]:
    ctx = ControllerContext(client=client, informers=InformerFactory(client), clock=RealClock())
    ctl = DaemonSetController(ctx)
    ctl.setup()
    ctx.informers.start()
    await ctx.informers.wait_for_sync(10)
    task = asyncio.create_task(ctl.run())
    try:
        yield
    finally:
        await ctl.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctx.informers.stop()


@contextlib.asynccontextmanager
async def controller() -> AsyncIterator[Client]:
    async with running_apiserver() as (_srv, client), started(client):
        yield client


async def add_node(client: Client, name: str, labels: dict[str, str] | None = None,
                   taints: list[dict[str, str]] | None = None) -> None:
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": name, "labels": labels or {}},
                                "spec": {"taints": taints} if taints else {}})


def daemonset(name: str = "agent", **spec: Any) -> dict[str, Any]:
    pod_spec = spec.pop("pod_spec", {})
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}], **pod_spec}},
                     **spec}}


async def pods_by_node(client: Client) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in (await client.list(PODS, "default"))["items"]:
        if not p["metadata"].get("deletionTimestamp"):
            out.setdefault(target_node(p) or "", []).append(p)
    return out


async def on_nodes(client: Client, want: list[str]) -> dict[str, list[dict[str, Any]]] | None:
    got = await pods_by_node(client)
    return got if sorted(got) == want and all(len(v) == 1 for v in got.values()) else None


async def make_ready(client: Client, pod: dict[str, Any]) -> None:
    p = await client.get(PODS, pod["metadata"]["name"], "default")
    p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await client.update_status(PODS, p)


async def test_follows_nodes_as_they_come_and_go() -> None:
    async with controller() as client:
        await add_node(client, "n1")
        await add_node(client, "n2")
        await client.create(DS, daemonset())
        got = await wait_for(lambda: on_nodes(client, ["n1", "n2"]))
        pod = got["n1"][0]
        terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms == {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}
        tol = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in tol
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tol
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
        await add_node(client, "n3")
        await wait_for(lambda: on_nodes(client, ["n1", "n2", "n3"]))
        await client.delete(NODES, "n2")
        got = await wait_for(lambda: on_nodes(client, ["n1", "n3"]))
        for pods in got.values():
            await make_ready(client, pods[0])

        async def status() -> dict[str, Any] | None:
            st = (await client.get(DS, "agent", "default")).get("status") or {}
            want = {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 2,
                    "numberAvailable": 2, "updatedNumberScheduled": 2, "numberMisscheduled": 0,
                    "observedGeneration": 1}
            return st if all(st.get(k) == v for k, v in want.items()) else None
        assert "numberUnavailable" not in await wait_for(status)


async def test_node_selector_and_taints() -> None:
    async with controller() as client:
        await add_node(client, "gpu", {"accel": "yes"})
        await add_node(client, "plain")
        await add_node(client, "tainted", {"accel": "yes"}, [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
        await client.create(DS, daemonset(pod_spec={"nodeSelector": {"accel": "yes"}}))
        await wait_for(lambda: on_nodes(client, ["gpu"]))
        await asyncio.sleep(0.2)
        assert sorted(await pods_by_node(client)) == ["gpu"]
        # relabelling a node moves it out of the set: its pod goes
        await client.patch(NODES, "gpu", {"metadata": {"labels": {"accel": None}}})
        await wait_for(lambda: _empty(client))


async def _empty(client: Client) -> bool:
    return await pods_by_node(client) == {}


def test_eligibility_rules() -> None:
    ds = daemonset(pod_spec={"hostNetwork": True})
    node = {"metadata": {"name": "n"}, "spec": {"taints": [
        {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]}}
    assert should_run(ds, node) == (True, True)  # both tolerated by the automatic tolerations
    node["spec"]["taints"].append({"key": "x", "value": "y", "effect": "NoSchedule"})
    assert should_run(ds, node) == (False, True)  # an existing pod may stay
    node["spec"]["taints"].append({"key": "z", "effect": "NoExecute"})
    assert should_run(ds, node) == (False, False)
    tolerant = daemonset(pod_spec={"tolerations": [{"operator": "Exists"}]})
    assert should_run(tolerant, node) == (True, True)


async def test_rolling_update_replaces_pods_one_node_at_a_time() -> None:
    async with controller() as client:
        for n in ("n1", "n2", "n3"):
            await add_node(client, n)
        await client.create(DS, daemonset())
        got = await wait_for(lambda: on_nodes(client, ["n1", "n2", "n3"]))
        for pods in got.values():
            await make_ready(client, pods[0])
        old_uids = {v[0]["metadata"]["uid"] for v in got.values()}
        await client.patch(DS, "agent", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "busybox:2"}]}}}}, "default", patch_type="strategic")

        async def new_pods() -> list[dict[str, Any]]:
            return [p for ps in (await pods_by_node(client)).values() for p in ps
                    if p["metadata"]["labels"].get("pod-template-generation") == "2"]
        seen = 0
        for _ in range(3):
            pods = await wait_for(lambda n=seen + 1: _count(new_pods(), n))
            await asyncio.sleep(0.1)
            assert len(await new_pods()) == seen + 1  # maxUnavailable 1: one at a time
            fresh = [p for p in pods if p["status"].get("phase") != "Running"]
            for p in fresh:
                await make_ready(client, p)
            seen += 1
        now = await pods_by_node(client)
        assert not old_uids & {ps[0]["metadata"]["uid"] for ps in now.values()}

        async def done() -> bool:
            st = (await client.get(DS, "agent", "default"))["status"]
            return bool(st.get("updatedNumberScheduled") == 3 and st.get("numberAvailable") == 3
                        and st.get("observedGeneration") == 2)
        await wait_for(done)


async def _count(coro: Any, n: int) -> list[dict[str, Any]] | None:
    got = await coro
    return got if len(got) == n else None


async def test_restart_creates_nothing_extra() -> None:
    async with running_apiserver() as (_srv, client):
        await add_node(client, "n1")
        await add_node(client, "n2")
        async with started(client):
            await client.create(DS, daemonset())
            await wait_for(lambda: on_nodes(client, ["n1", "n2"]))
        before = sorted(p["metadata"]["uid"] for p in (await client.list(PODS, "default"))["items"])
        async with started(client):
            await asyncio.sleep(0.3)
            after = sorted(p["metadata"]["uid"] for p in (await client.list(PODS, "default"))["items"])
        assert after == before
