"""The scheduler against a real in-process API server: binding, events, conditions, preemption."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.scheduler.util import node, pod, wait_for
from tests.support.apiserver import running_apiserver
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.client.events import EVENT
from tugboat.scheduler import Scheduler
from tugboat.scheduler.scheduler import NODE, POD

PC = default_scheme().by_kind("scheduling.k8s.io", "v1", "PriorityClass")


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[Client, Any]]:
    schedulers: list[tuple[Scheduler, InformerFactory]] = []

    async def start(names: tuple[str, ...] = ("default-scheduler",)) -> Scheduler:
        inf = InformerFactory(client)
        s = Scheduler(client, inf, scheduler_name=names, initial_backoff=0.05, max_backoff=0.2)
        await s.start()
        schedulers.append((s, inf))
        return s

    async with running_apiserver(qps=0) as (_srv, client):
        try:
            yield client, start
        finally:
            for s, inf in schedulers:
                await s.stop()
                await inf.stop()


async def node_of(client: Client, name: str) -> str:
    return (await client.get(POD, name, "default"))["spec"].get("nodeName") or ""


async def test_pods_spread_over_nodes_with_scheduled_events(cluster: Any) -> None:
    client, start = cluster
    for i in range(3):
        await client.create(NODE, node(f"n{i}", cpu="2"))
    sched = await start()
    for i in range(6):
        await client.create(POD, pod(f"p{i}", cpu="500m"))

    async def all_bound() -> list[str] | None:
        nodes = [await node_of(client, f"p{i}") for i in range(6)]
        return nodes if all(nodes) else None

    placed = await wait_for(all_bound)
    assert sorted(placed.count(n) for n in ("n0", "n1", "n2")) == [2, 2, 2]  # least-allocated spreads
    await sched.flush_events()
    events = (await client.list(EVENT, "default"))["items"]
    msgs = {e["message"] for e in events if e["reason"] == "Scheduled"}
    assert f"Successfully assigned default/p0 to {placed[0]}" in msgs
    p0 = await client.get(POD, "p0", "default")
    assert {"type": "PodScheduled", "status": "True"}.items() <= p0["status"]["conditions"][0].items()


async def test_pod_that_fits_nowhere_stays_pending_with_condition_and_event(cluster: Any) -> None:
    client, start = cluster
    for i in range(3):
        await client.create(NODE, node(f"n{i}", cpu="1"))
    sched = await start()
    await client.create(POD, pod("huge", cpu="4"))
    want = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod.")

    async def condition() -> dict[str, Any] | None:
        p = await client.get(POD, "huge", "default")
        return next((c for c in p["status"].get("conditions") or () if c["type"] == "PodScheduled"), None)

    cond = await wait_for(condition)
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", want)
    await sched.flush_events()
    events = [e for e in (await client.list(EVENT, "default"))["items"] if e["reason"] == "FailedScheduling"]
    assert events and events[0]["type"] == "Warning" and events[0]["message"] == want
    assert events[0]["involvedObject"]["name"] == "huge"
    assert events[0]["source"]["component"] == "default-scheduler"
    assert await node_of(client, "huge") == ""
    # a big enough node arriving makes it schedulable (queue moves it on Node/Add)
    await client.create(NODE, node("big", cpu="8"))
    assert await wait_for(lambda: node_of(client, "huge")) == "big"


async def test_gpu_pod_lands_only_on_gpu_node(cluster: Any) -> None:
    client, start = cluster
    for i in range(4):
        await client.create(NODE, node(f"cpu{i}", cpu="8"))
    await client.create(NODE, node("gpu", cpu="8", extra={"nvidia.com/gpu": "1"}))
    await start()
    await client.create(POD, pod("train", extra={"nvidia.com/gpu": "1"}))
    await client.create(POD, pod("train2", extra={"nvidia.com/gpu": "1"}))
    assert await wait_for(lambda: node_of(client, "train")) == "gpu"

    async def second_pending() -> str | None:
        p = await client.get(POD, "train2", "default")
        conds = p["status"].get("conditions") or []
        return next((c["message"] for c in conds if c["type"] == "PodScheduled"), None)

    msg = await wait_for(second_pending)
    assert msg.startswith("0/5 nodes are available: 5 Insufficient nvidia.com/gpu.")


async def test_node_selector_affinity_and_taints(cluster: Any) -> None:
    client, start = cluster
    await client.create(NODE, node("ssd", labels={"disk": "ssd"}))
    await client.create(NODE, node("hdd", labels={"disk": "hdd"}))
    await client.create(NODE, node("tainted", labels={"disk": "ssd"},
                                   taints=[{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]))
    await start()
    await client.create(POD, pod("sel", spec={"nodeSelector": {"disk": "hdd"}}))
    await client.create(POD, pod("aff", spec={"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}}))
    await client.create(POD, pod("tol", spec={"nodeSelector": {"disk": "ssd"}, "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["tainted"]}]}]}}},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]}))
    assert await wait_for(lambda: node_of(client, "sel")) == "hdd"
    assert await wait_for(lambda: node_of(client, "aff")) == "ssd"  # the tainted ssd node is not tolerated
    assert await wait_for(lambda: node_of(client, "tol")) == "tainted"


async def test_scheduler_name_routing(cluster: Any) -> None:
    client, start = cluster
    await client.create(NODE, node("n0"))
    await start(("default-scheduler",))
    await client.create(POD, pod("mine"))
    await client.create(POD, pod("theirs", spec={"schedulerName": "other-scheduler"}))
    assert await wait_for(lambda: node_of(client, "mine")) == "n0"
    theirs = await client.get(POD, "theirs", "default")
    assert not theirs["spec"].get("nodeName") and not theirs["status"].get("conditions")
    await start(("other-scheduler",))
    assert await wait_for(lambda: node_of(client, "theirs")) == "n0"


async def test_high_priority_pod_preempts_lower_priority_one(cluster: Any) -> None:
    client, start = cluster
    for name, value in (("low", 10), ("high", 1000)):
        await client.create(PC, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                 "metadata": {"name": name}, "value": value})
    await client.create(NODE, node("n0", cpu="1"))
    await start()
    await client.create(POD, pod("victim", cpu="800m", spec={"priorityClassName": "low"}))
    assert await wait_for(lambda: node_of(client, "victim")) == "n0"
    await client.create(POD, pod("vip", cpu="800m", spec={"priorityClassName": "high"}))

    async def victim_marked() -> Any:
        try:
            v = await client.get(POD, "victim", "default")
        except Exception:  # noqa: BLE001 - gone already
            return "gone"
        if not v["metadata"].get("deletionTimestamp"):
            return None
        return next((c for c in v["status"].get("conditions") or () if c["type"] == "DisruptionTarget"), None)

    cond = await wait_for(victim_marked)
    assert cond != "gone", "a bound pod is deleted gracefully: the scheduler must have marked it first"
    assert cond["reason"] == "PreemptionByScheduler"
    assert cond["message"] == "default-scheduler: preempting to accommodate a higher priority pod"

    async def nominated() -> str:
        return (await client.get(POD, "vip", "default"))["status"].get("nominatedNodeName") or ""

    assert await wait_for(nominated) == "n0"
    assert await node_of(client, "vip") == ""  # not bound while the victim is still terminating
    await client.delete(POD, "victim", "default", grace_period_seconds=0)  # what the kubelet would finish
    assert await wait_for(lambda: node_of(client, "vip")) == "n0"
