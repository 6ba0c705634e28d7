"""Whole-cluster figures: a real `tug server` (SQLite, TLS, its supervised controllers and
scheduler process) with 1 000 simulated nodes in one `tug agent --simulate` process.

What is measured, all in one run, on the same 2 cores that host all three processes:
- time for a Deployment of R replicas to be fully available (every pod scheduled, started by
  its hollow node, Running and Ready, Deployment status updated), from the `create`;
- node heartbeats while that runs: Lease writes per second seen on a watch of
  kube-node-lease (1 000 nodes renewing every 10 s should give 100/s), the longest gap between
  two renewals of any node, how many nodes went NotReady; and the latency of Lease PUTs made
  from this process at 10/s the way a node renews, with a node's identity (client certificate
  CN=system:node:bench-probe, O=system:nodes, so the server's flow control treats it as a
  node's heartbeat, upstream's `system-node-high` FlowSchema) (p50/p99);
- resident memory (VmRSS) of the API server process and of the components process afterwards.

Scheduler throughput at 100 / 1 000 / 5 000 nodes is bench/scheduler_bench.py (scheduler
alone against an in-process API server); it is not repeated here.
Usage: `python -m bench.cluster_bench [NODES [REPLICAS]]` (default 1000 10000, at most 240 s of waiting;
a partial count is reported when the budget runs out).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import start_server
from tests.e2e.simcluster import SimCluster
from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import Client, load_kubeconfig
from tugboat.client.clock import micro_time

Row = tuple[str, str, str, str, str]
NODES, REPLICAS, BUDGET = 1_000, 10_000, 240.0


def _rt(group: str, kind: str) -> ResourceType:
    rt = default_scheme().by_kind(group, "v1", kind)
    assert rt is not None
    return rt


NODE, LEASE, DEPLOY = _rt("", "Node"), _rt("coordination.k8s.io", "Lease"), _rt("apps", "Deployment")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


async def _nodes_ready(client: Client) -> int:
    return len([n for n in (await client.list(NODE))["items"] if _ready(n)])


class LeaseWatch:
    """Counts Lease renewals on a watch and the longest gap between two renewals of one node."""

    def __init__(self) -> None:
        self.writes = 0
        self.last: dict[str, float] = {}
        self.max_gap = 0.0

    async def run(self, client: Client, rv: str) -> None:
        async for typ, obj in client.watch(LEASE, "kube-node-lease", resource_version=rv, allow_bookmarks=False):
            if typ != "MODIFIED" or obj["metadata"]["name"] == "bench-probe":
                continue
            now = time.monotonic()
            name = obj["metadata"]["name"]
            prev = self.last.get(name)
            if prev is not None:
                self.max_gap = max(self.max_gap, now - prev)
            self.last[name] = now
            self.writes += 1


async def _lease_probe(client: Client, lat: list[float], stop: asyncio.Event) -> None:
    """PUT one Lease 10 times a second, as a node's renewal does; record each latency."""
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "bench-probe", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "bench-probe", "leaseDurationSeconds": 40,
                     "renewTime": micro_time(time.time())}}
    lease = await client.create(LEASE, body, "kube-node-lease")
    while not stop.is_set():
        lease["spec"]["renewTime"] = micro_time(time.time())
        t = time.perf_counter()
        lease = await client.update(LEASE, lease, "kube-node-lease")
        lat.append(time.perf_counter() - t)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def _node_client(c: SimCluster, name: str) -> Client:
    """A client that is node NAME to the server, the way a kubelet authenticates."""
    from tugboat.apiserver.certs import Pki
    pki = Pki(c.server.data_dir)
    pki.client_cert(f"bench-{name}", f"system:node:{name}", "system:nodes")
    path = c.tmp / f"{name}.kubeconfig"
    path.write_text(pki.kubeconfig(load_kubeconfig(str(c.server.kubeconfig)).server, f"bench-{name}"))
    return Client(load_kubeconfig(str(path)), component="bench-probe", qps=0)


def _deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "bench"}},
                     "template": {"metadata": {"labels": {"app": "bench"}},
                                  "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                                           "resources": {"requests": {"cpu": "10m",
                                                                                      "memory": "16Mi"}}}]}}}}


async def _measure(c: SimCluster, nodes: int, replicas: int, budget: float) -> list[Row]:
    client = Client(load_kubeconfig(str(c.server.kubeconfig)), component="bench", qps=0)
    probe_client = _node_client(c, "bench-probe")
    rows: list[Row] = []
    try:
        t0 = time.monotonic()
        c.start_agent("hollow-", nodes, wait=False, lease_seconds="40", capacity="cpu=32,memory=128Gi,pods=110")
        while await _nodes_ready(client) < nodes:
            c._alive(c.groups["hollow-"])
            if time.monotonic() - t0 > 120:
                raise RuntimeError(f"only {await _nodes_ready(client)} of {nodes} nodes Ready after 120 s")
            await asyncio.sleep(1)
        t_nodes = time.monotonic() - t0
        rows.append((f"register {nodes} simulated nodes (one agent process)", f"{t_nodes:.1f}", "s", "",
                     "create Node + Lease each, until all Ready in a LIST"))
        await asyncio.sleep(10)  # one full lease interval, so every node has renewed once at its own phase
        rv = (await client.list(LEASE, "kube-node-lease", limit=1))["metadata"]["resourceVersion"]
        lw = LeaseWatch()
        watcher = asyncio.create_task(lw.run(client, rv))
        lat: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_lease_probe(probe_client, lat, stop))
        t1 = time.monotonic()
        await client.create(DEPLOY, _deployment(replicas), "default")
        available, not_ready = 0, 0
        while time.monotonic() - t1 < budget:
            await asyncio.sleep(1)
            st = (await client.get(DEPLOY, "bench", "default")).get("status") or {}
            available = int(st.get("availableReplicas") or 0)
            if available >= replicas and int(st.get("updatedReplicas") or 0) >= replicas:
                break
        t_deploy = time.monotonic() - t1
        not_ready = nodes - await _nodes_ready(client)
        stop.set()
        await probe
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        done = available >= replicas
        rows.append((f"{replicas}-replica Deployment fully available on {nodes} simulated nodes",
                     f"{t_deploy:.1f}" if done else f"> {budget:.0f}", "s", "",
                     f"{replicas / t_deploy:.0f} pods/s end to end" if done
                     else f"only {available}/{replicas} available within the budget"))
        rows.append((f"lease renewals of {nodes} nodes during the rollout", f"{lw.writes / t_deploy:.0f}", "writes/s",
                     f"{nodes / 10:.0f}/s expected (10 s interval)",
                     f"longest gap between two renewals of a node {lw.max_gap:.1f}s; "
                     f"{not_ready} nodes not Ready at the end"))
        if lat:
            q = statistics.quantiles(lat, n=100)
            rows.append(("lease PUT latency during the rollout (p99)", f"{q[98] * 1000:.0f}", "ms", "≤ 500 ms target",
                         f"p50 {q[49] * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms over {len(lat)} PUTs at 10/s"))
        pods_total = available
        rows.append((f"API server RSS, {nodes} nodes + {pods_total} pods", f"{_rss_mb(c.server.proc.pid):.0f}", "MiB",
                     "", "tug server process (SQLite store, watch cache)"))
        rows.append((f"components RSS, {nodes} nodes + {pods_total} pods", f"{_rss_mb(c.components_pid()):.0f}",
                     "MiB", "", "controller manager + scheduler process (informer caches)"))
        rows.append((f"simulated agent RSS, {nodes} nodes + {pods_total} pods",
                     f"{_rss_mb(c.groups['hollow-'].proc.pid):.0f}", "MiB", "", "all hollow nodes in one process"))
    finally:
        await client.close()
        await probe_client.close()
    return rows


def run(nodes: int = NODES, replicas: int = REPLICAS, budget: float = BUDGET) -> list[Row]:
    server = start_server()
    tmp = server.data_dir.parent / "sim"
    tmp.mkdir()
    c = SimCluster(server, tmp)
    try:
        return asyncio.run(_measure(c, nodes, replicas, budget))
    finally:
        c.stop()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    for row in run(*args):
        print(" | ".join(row))
