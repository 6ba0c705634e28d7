"""`GET /stats/summary`: the kubelet Summary API (node, pods, containers: CPU and memory).

The shape is upstream's `stats/v1alpha1` Summary (`node.cpu.usageNanoCores`,
`pods[].podRef`, `pods[].containers[].memory.workingSetBytes`, …) restricted to CPU and memory
— what metrics-server reads, and what the API server's metrics.k8s.io uses for `kubectl top`.

Real nodes: node figures from /proc, containers from their cgroups (stats_collect.py). The
first request has no earlier reading to take a CPU rate from, so it reads twice, 250 ms
apart. Simulated nodes report synthetic figures from pod annotations (per container with a
`.<container>` suffix, as the simulated runtime's other annotations):

    sim.tugboat.dev/cpu-millicores: "250"      (default 1)
    sim.tugboat.dev/memory-bytes: "52428800"   (default 4 MiB)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tugboat.node import keys
from tugboat.node.server.stats_collect import CpuMem, RateTracker, cgroup_usage, node_usage
from tugboat.node.server.util import AGENT
from tugboat.util.clock import rfc3339

SIM = "sim.tugboat.dev/"
SIM_DEFAULT_MILLI, SIM_DEFAULT_MEMORY = 1, 4 * 1024 * 1024
SIM_NODE_BASE_MILLI, SIM_NODE_BASE_MEMORY = 50, 256 * 1024 * 1024
STATS: web.AppKey[RateTracker] = web.AppKey("tugboat.stats", RateTracker)


@dataclass
class _Ctr:
    pod_uid: str
    name: str
    id: str
    started_at: float


def _cpu(t: str, rate: int | None, total: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"time": t}
    if rate is not None:
        out["usageNanoCores"] = rate
    if total is not None:
        out["usageCoreNanoSeconds"] = total
    return out


def _mem(t: str, m: CpuMem) -> dict[str, Any]:
    out: dict[str, Any] = {"time": t}
    for key, v in (("availableBytes", m.available), ("usageBytes", m.usage), ("workingSetBytes", m.working_set),
                   ("rssBytes", m.rss)):
        if v is not None:
            out[key] = v
    return out


def _sim_value(pod: dict[str, Any], key: str, container: str, default: int) -> int:
    anns = (pod.get("metadata") or {}).get("annotations") or {}
    raw = anns.get(f"{SIM}{key}.{container}", anns.get(SIM + key))
    try:
        return max(0, int(float(raw))) if raw is not None else default
    except ValueError:
        return default


async def _containers(agent: Any) -> dict[str, list[_Ctr]]:
    latest: dict[tuple[str, str], Any] = {}
    for c in await agent.runtime.list_containers():
        if c.state != "running":
            continue
        k = (c.labels.get(keys.POD_UID, ""), c.labels.get(keys.CONTAINER_NAME, c.name))
        if k not in latest or c.attempt >= latest[k].attempt:
            latest[k] = c
    out: dict[str, list[_Ctr]] = {}
    for (uid, name), c in latest.items():
        out.setdefault(uid, []).append(_Ctr(uid, name, c.id, c.started_at or c.created_at))
    return out


def _read_real(agent: Any, ctrs: list[_Ctr]) -> dict[str, CpuMem]:
    out = {"node": node_usage()}
    getter = getattr(agent.runtime, "container_cgroup", None)
    for c in ctrs:
        try:
            path = getter(c.id) if getter is not None else ""
        except Exception:  # noqa: BLE001 — container went away between list and read
            continue
        if path:
            out[c.id] = cgroup_usage(path)
    return out


def _read_sim(agent: Any, ctrs: list[_Ctr], pods: dict[str, dict[str, Any]], now: float) -> dict[str, CpuMem]:
    out: dict[str, CpuMem] = {}
    node_milli, node_mem = SIM_NODE_BASE_MILLI, SIM_NODE_BASE_MEMORY
    for c in ctrs:
        pod = pods.get(c.pod_uid) or {}
        milli = _sim_value(pod, "cpu-millicores", c.name, SIM_DEFAULT_MILLI)
        mem = _sim_value(pod, "memory-bytes", c.name, SIM_DEFAULT_MEMORY)
        out[c.id] = CpuMem(cpu_ns=int(milli * 1_000_000 * max(0.0, now - c.started_at)), working_set=mem,
                           usage=mem, rss=mem)
        node_milli, node_mem = node_milli + milli, node_mem + mem
    boot = getattr(agent, "_sim_stats_boot", None) or now
    agent._sim_stats_boot = boot
    out["node"] = CpuMem(cpu_ns=int(node_milli * 1_000_000 * (now - boot)), working_set=node_mem, usage=node_mem,
                         rss=node_mem)
    return out


async def summary(agent: Any, tracker: RateTracker) -> dict[str, Any]:
    pods = {uid: rec.pod for uid, rec in list(agent.records.items()) if not rec.gone}
    by_pod = await _containers(agent)
    ctrs = [c for uid, cs in by_pod.items() if uid in pods for c in cs]
    simulated = bool(getattr(agent, "simulated", False))
    now = time.time()
    if simulated:
        readings = _read_sim(agent, ctrs, pods, now)
        rates = {c.id: _sim_value(pods.get(c.pod_uid) or {}, "cpu-millicores", c.name, SIM_DEFAULT_MILLI)
                 * 1_000_000 for c in ctrs}
        rates["node"] = sum(rates.values()) + SIM_NODE_BASE_MILLI * 1_000_000
    else:
        readings = await asyncio.to_thread(_read_real, agent, ctrs)
        if any(not tracker.has(k) for k in readings):
            for k, v in readings.items():
                tracker.rate(k, v.cpu_ns)
            await asyncio.sleep(0.25)
            readings = await asyncio.to_thread(_read_real, agent, ctrs)
        rates = {k: n for k, v in readings.items() if (n := tracker.rate(k, v.cpu_ns)) is not None}
        tracker.forget_except(set(readings))
    t = rfc3339(now)
    node = readings["node"]
    alloc = getattr(agent, "allocatable", {}) or {}
    if simulated and node.working_set is not None and "memory" in alloc:
        from tugboat.api.quantity import parse_quantity
        node.available = max(0, int(parse_quantity(alloc["memory"])) - node.working_set)
    out_pods = []
    for uid, cs in by_pod.items():
        pod = pods.get(uid)
        if pod is None:
            continue
        md = pod.get("metadata") or {}
        containers: list[dict[str, Any]] = []
        cpu_total = cpu_rate = ws = usage = 0
        for c in sorted(cs, key=lambda c: c.name):
            got = readings.get(c.id)
            if got is None:
                continue
            r = got
            containers.append({"name": c.name, "startTime": rfc3339(c.started_at),
                               "cpu": _cpu(t, rates.get(c.id), r.cpu_ns), "memory": _mem(t, r)})
            cpu_total += r.cpu_ns or 0
            cpu_rate += rates.get(c.id) or 0
            ws += r.working_set or 0
            usage += r.usage or 0
        start = (pod.get("status") or {}).get("startTime") or md.get("creationTimestamp") or t
        out_pods.append({"podRef": {"name": md.get("name", ""), "namespace": md.get("namespace", ""), "uid": uid},
                         "startTime": start, "containers": containers,
                         "cpu": _cpu(t, cpu_rate, cpu_total),
                         "memory": {"time": t, "usageBytes": usage, "workingSetBytes": ws}})
    return {"node": {"nodeName": agent.node_name, "startTime": t,
                     "cpu": _cpu(t, rates.get("node"), node.cpu_ns), "memory": _mem(t, node)},
            "pods": out_pods}


async def stats_summary(request: web.Request) -> web.Response:
    body = await summary(request.app[AGENT], request.app[STATS])
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def register(app: web.Application) -> None:
    app[STATS] = RateTracker()
    app.router.add_get("/stats/summary", stats_summary)
