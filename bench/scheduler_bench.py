"""Scheduler throughput: pods/s from "pending" to "bound, observed via watch".

An in-process API server (memory store, as tests/support) holds N Node objects (created
directly, no agents) and 10 000 pending pods; then the scheduler starts, and a separate watch
counts pods whose spec.nodeName is set. Throughput = pods / (last bind observed − scheduler
start), so it includes the scheduler's initial LIST of all pods and nodes. Everything —
API server, scheduler, watcher — shares one Python process (one core of the two), so the figure
is a lower bound of what a scheduler process talking to a separate API server does.
Reference: upstream's scheduler_perf floor (SchedulingBasic 5000 nodes / 10 000 pods) is
680-700 pods/s for the Go scheduler; the CL2 real-cluster gate is 100 pods/s.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from tests.support.apiserver import running_apiserver
from tugboat.client import Client, InformerFactory
from tugboat.scheduler import Scheduler
from tugboat.scheduler.scheduler import NODE, POD

Row = tuple[str, str, str, str, str]
PODS = 10_000
SCALES = (100, 1_000, 5_000)


def _node(i: int) -> dict[str, Any]:
    alloc = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    name = f"node-{i:05d}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "topology.kubernetes.io/zone": f"zone-{i % 3}"}},
            "status": {"allocatable": alloc, "capacity": alloc}}


def _pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i:05d}", "namespace": "default",
                                                            "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}]}}


async def _create_all(client: Client, rt: Any, objs: list[dict[str, Any]], conc: int = 64) -> None:
    it = iter(objs)

    async def worker() -> None:
        for o in it:
            await client.create(rt, o)

    await asyncio.gather(*(worker() for _ in range(conc)))


async def _count_bound(client: Client, rv: str, total: int, done: asyncio.Event, times: list[float]) -> None:
    bound: set[str] = set()
    async for typ, obj in client.watch(POD, "default", resource_version=rv, allow_bookmarks=False):
        if typ == "MODIFIED" and (obj.get("spec") or {}).get("nodeName"):
            bound.add(obj["metadata"]["name"])
            if len(bound) >= total:
                times.append(time.perf_counter())
                done.set()
                return


async def one_scale(nodes: int, pods: int = PODS) -> tuple[float, float, dict[str, int]]:
    """(pods/s, informer sync seconds, placement stats) for one cluster size."""
    async with running_apiserver(qps=0) as (_srv, client):
        await _create_all(client, NODE, [_node(i) for i in range(nodes)])
        await _create_all(client, POD, [_pod(i) for i in range(pods)])
        rv = (await client.list(POD, "default", limit=1))["metadata"]["resourceVersion"]
        watch_client = Client(client.config, qps=0)
        sched_client = Client(client.config, component="scheduler", qps=0)
        done, times = asyncio.Event(), []  # type: ignore[var-annotated]
        watcher = asyncio.create_task(_count_bound(watch_client, rv, pods, done, times))
        await asyncio.sleep(0.2)  # let the watch connect
        gc.collect()
        informers = InformerFactory(sched_client)
        sched = Scheduler(sched_client, informers)
        t0 = time.perf_counter()
        await sched.start()
        t_sync = time.perf_counter() - t0
        try:
            await asyncio.wait_for(done.wait(), timeout=300)
        finally:
            await sched.stop()
            await informers.stop()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await watch_client.close()
            await sched_client.close()
        per_node: dict[str, int] = {}
        for _, (_pi, n) in sched.cache.pods.items():
            per_node[n] = per_node.get(n, 0) + 1
        spread = {"min": min(per_node.values()), "max": max(per_node.values()), "nodes_used": len(per_node),
                  "cycle_us": int(sched.cycle_seconds / max(1, sched.cycles) * 1e6)}
        return pods / (times[0] - t0), t_sync, spread


async def _run(scales: tuple[int, ...] = SCALES, pods: int = PODS) -> list[Row]:
    rows: list[Row] = []
    for n in scales:
        rate, t_sync, spread = await one_scale(n, pods)
        ref = "≥ 700 target (upstream CI floor 680), ≥ 100 minimum" if n == 5000 else "CL2 gate 100"
        rows.append((f"scheduler throughput, {n} nodes, {pods} pods", f"{rate:.0f}", "pods/s", ref,
                     f"informer sync {t_sync:.1f}s; pods/node min {spread['min']} max {spread['max']} "
                     f"on {spread['nodes_used']} nodes; scheduling cycle {spread['cycle_us']} µs/pod "
                     f"(the rest is the API server, binds, events and watches sharing the core)"))
    return rows


def run() -> list[Row]:
    try:
        import uvloop
        return uvloop.run(_run())  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run(_run())


if __name__ == "__main__":
    import sys
    scales = tuple(int(a) for a in sys.argv[1:]) or SCALES
    for row in asyncio.run(_run(scales, 2000)):
        print(row)
