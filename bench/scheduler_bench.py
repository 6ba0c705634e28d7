"""Scheduler throughput: pods/s from "pending" to "bound, observed via watch".

An API server (memory store, plain HTTP, authentication off — the tests/support server) holds
N Node objects (created directly, no agents) and 10 000 pending pods; then the scheduler
starts, and a separate watch counts pods whose spec.nodeName is set. Throughput = pods / (last
bind observed − scheduler start), so it includes the scheduler's initial LIST of all pods and
nodes, every bind is a POST to pods/binding and every Scheduled event a POST to events.
The API server runs in its OWN process (`--serve`), as `tug server` runs it apart from the
scheduler and as upstream's scheduler_perf measures its scheduler against a separate
kube-apiserver; the scheduler and the counting watch share the bench process. Pass
`--in-process` for the old single-process figure (everything on one core).
Reference: upstream's scheduler_perf floor (SchedulingBasic 5000 nodes / 10 000 pods) is
680-700 pods/s for the Go scheduler; the CL2 real-cluster gate is 100 pods/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.support.apiserver import running_apiserver
from tugboat.client import Client, Config, InformerFactory
from tugboat.scheduler import Scheduler
from tugboat.scheduler.scheduler import NODE, POD
from tugboat.util import gctune

Row = tuple[str, str, str, str, str]
PODS = 10_000
SCALES = (100, 1_000, 5_000)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def _serve() -> None:
    """Child process: the tests/support API server on 127.0.0.1, port printed on stdout."""
    from tugboat.apiserver.context import Config as ServerConfig
    from tugboat.apiserver.server import ApiServer, serve
    from tugboat.store.memory import MemoryBackend
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=ServerConfig(bookmark_interval=1.0), authenticate=False)
    await srv.start(compact=False)
    runner = await serve(srv, "127.0.0.1", 0, None)
    port = runner.addresses[0][1]
    print(port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await srv.stop()
    await backend.close()


@contextlib.asynccontextmanager
async def separate_apiserver() -> AsyncIterator[tuple[int, Client]]:
    """The API server in a child process (stopped by pid on exit) and a client of it."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.scheduler_bench", "--serve"], stdout=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert proc.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
        if not line.strip():
            raise RuntimeError("API server child did not start")
        client = Client(Config(server=f"http://127.0.0.1:{int(line)}"), qps=0)
        try:
            yield proc.pid, client
        finally:
            await client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def one_scale(nodes: int, pods: int = PODS, in_process: bool = False) -> tuple[float, float, dict[str, int]]:
    """(pods/s, informer sync seconds, placement stats) for one cluster size."""
    server = running_apiserver(qps=0) if in_process else separate_apiserver()
    async with server as (srv, client):
        api_pid = srv if isinstance(srv, int) else None
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
        gctune.tune()  # as tugboat.scheduler.run does for the scheduler process
        sched = Scheduler(sched_client, informers, freeze_heap_after_sync=True)
        cpu0 = _cpu_seconds(os.getpid()), _cpu_seconds(api_pid) if api_pid else 0.0
        t0 = time.perf_counter()
        await sched.start()
        t_sync = time.perf_counter() - t0
        try:
            await asyncio.wait_for(done.wait(), timeout=300)
            cpu1 = _cpu_seconds(os.getpid()), _cpu_seconds(api_pid) if api_pid else 0.0
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
                  "cycle_us": int(sched.cycle_seconds / max(1, sched.cycles) * 1e6),
                  "sched_cpu_us": int((cpu1[0] - cpu0[0]) / pods * 1e6), "api_cpu_us": int((cpu1[1] - cpu0[1]) / pods * 1e6)}
        return pods / (times[0] - t0), t_sync, spread


async def _run(scales: tuple[int, ...] = SCALES, pods: int = PODS, in_process: bool = False) -> list[Row]:
    rows: list[Row] = []
    for n in scales:
        rate, t_sync, spread = await one_scale(n, pods, in_process)
        ref = "≥ 700 target (upstream CI floor 680), ≥ 100 minimum" if n == 5000 else "CL2 gate 100"
        rows.append((f"scheduler throughput, {n} nodes, {pods} pods", f"{rate:.0f}", "pods/s", ref,
                     f"informer sync {t_sync:.1f}s; pods/node min {spread['min']} max {spread['max']} "
                     f"on {spread['nodes_used']} nodes; scheduling cycle {spread['cycle_us']} µs/pod "
                     f"(the rest is binds, events and the watches); CPU per pod: bench process {spread['sched_cpu_us']} µs, "
                     f"API server process {spread['api_cpu_us']} µs; "
                     f"API server {'in the same process' if in_process else 'in its own process'}"))
    return rows


def _uvrun(coro: Any) -> Any:
    try:
        import uvloop
        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def run() -> list[Row]:
    return _uvrun(_run())  # type: ignore[no-any-return]


if __name__ == "__main__":
    if "--serve" in sys.argv:
        _uvrun(_serve())
        raise SystemExit(0)
    argv = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = {a.split("=")[0]: a.split("=")[-1] for a in sys.argv[1:] if a.startswith("--")}
    for row in _uvrun(_run(tuple(int(a) for a in argv) or SCALES, int(flags.get("--pods", PODS)),
                           "--in-process" in flags)):
        print(" | ".join(row))
