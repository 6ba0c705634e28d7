"""Service proxy: rule sync time and EndpointSlice-change → rule-live latency at 1 000 Services /
10 000 endpoints, against real iptables (nf_tables) in a network namespace the bench creates.

An in-process API server holds 1 000 ClusterIP Services, each with one EndpointSlice of 10
ready endpoints. The proxy (default settings: min sync period 1 s) programs a fresh netns:
* full sync: compute the whole rule set and apply it with ONE iptables-restore (first sync),
  then a forced full rewrite over the live rules;
* partial sync: after one endpoint changes, only that Service's chains are rewritten;
* latency: one slice is updated through the API (an endpoint replaced by a new IP) and the
  clock stops when the proxy's iptables-restore containing the new endpoint has returned;
  changes are spaced beyond the min sync period, as separate changes in a live cluster are.
Reference for the sync times: a bare `iptables-restore` of the same full payload (the floor,
measured in the same run). Reference for latency: the Kubernetes network programming latency
SLO (p99 <= 30 s, CL2's NetworkProgrammingLatency). The netns and everything in it is deleted.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import subprocess
import time
from typing import Any

from tests.support.apiserver import running_apiserver
from tugboat.proxy import ProxyConfig, ServiceProxy, SyncResult
from tugboat.proxy.iptables import render
from tugboat.proxy.names import sep_chain
from tugboat.proxy.proxier import SERVICES, SLICES

Row = tuple[str, str, str, str, str]
N_SERVICES = 1_000
PER_SERVICE = 10
SAMPLES = 30


def _svc(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"svc-{i:04d}"}, "spec": {"ports": [{"name": "http", "port": 80,
                                                                        "targetPort": 8080}]}}


def _slice(i: int) -> dict[str, Any]:
    eps = [{"addresses": [f"10.{200 + i // 250}.{i % 250}.{j + 1}"], "conditions": {"ready": True},
            "nodeName": "bench-node"} for j in range(PER_SERVICE)]
    return {"metadata": {"name": f"svc-{i:04d}-x", "labels": {"kubernetes.io/service-name": f"svc-{i:04d}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": eps}


async def _create_all(client: Any) -> None:
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with sem:
            await client.create(SERVICES, _svc(i), "default")
            await client.create(SLICES, _slice(i), "default")
    await asyncio.gather(*(one(i) for i in range(N_SERVICES)))


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def _bench(netns: str) -> list[Row]:
    rows: list[Row] = []
    async with running_apiserver(qps=5000.0, burst=5000) as (_, client):
        t0 = time.monotonic()
        await _create_all(client)
        setup = time.monotonic() - t0
        proxy = ServiceProxy(client, ProxyConfig(node_name="bench-node", netns=netns, servicelb=False))
        done: list[SyncResult] = []
        proxy.listeners.append(done.append)
        await proxy.start()
        try:
            first = done[-1]
            n_rules = sum(len(v) for v in proxy.applied.values())
            rows.append(("proxy full sync, 1000 svc / 10k endpoints", f"{first.duration:.2f}", "s", "",
                         f"{n_rules} rules, {first.restore_bytes // 1024} KiB, one iptables-restore; "
                         f"API setup {setup:.1f}s"))
            t = time.monotonic()
            payload = render(proxy.applied, {}, full=True, saved=None, jumps=[])
            render_s = time.monotonic() - t
            t = time.monotonic()
            await proxy.host.restore(payload)
            raw = time.monotonic() - t
            t = time.monotonic()
            proxy._cache.clear()
            proxy.desired()
            compute = time.monotonic() - t
            again = await proxy.sync(full=True)
            rows.append(("proxy full rewrite over live rules", f"{again.duration:.2f}", "s",
                         f"{raw:.2f} s bare iptables-restore",
                         f"rule generation from scratch {compute:.2f}s, render {render_s:.2f}s"))
            latencies: list[float] = []
            partial: list[float] = []
            for k in range(SAMPLES):
                i = (k * 37) % N_SERVICES
                sl = await client.get(SLICES, f"svc-{i:04d}-x", "default")
                new_ip = f"10.199.{k // 250}.{k % 250 + 1}"
                sl["endpoints"][0]["addresses"] = [new_ip]
                want = ("nat", sep_chain(f"default/svc-{i:04d}:http", "tcp", f"{new_ip}:8080"))
                live = asyncio.get_running_loop().create_future()

                def seen(r: SyncResult, want: tuple[str, str] = want, fut: asyncio.Future[float] = live) -> None:
                    if want in proxy.applied and not fut.done():
                        fut.set_result(r.finished_at)
                        partial.append(r.duration)
                proxy.listeners.append(seen)
                t = time.monotonic()
                await client.update(SLICES, sl, "default")
                finished = await asyncio.wait_for(live, 30)
                latencies.append(finished - t)
                proxy.listeners.remove(seen)
                await asyncio.sleep(proxy.config.min_sync_period + 0.05)
            rows.append(("proxy partial sync (one Service changed)", f"{statistics.median(partial) * 1000:.0f}", "ms",
                         "", "median; rewrites only that Service's chains"))
            rows.append(("EndpointSlice change -> rule live p50", f"{_pct(latencies, 0.5) * 1000:.0f}", "ms",
                         "SLO p99 <= 30 s", f"{SAMPLES} changes, min sync period 1 s"))
            rows.append(("EndpointSlice change -> rule live p99", f"{_pct(latencies, 0.99) * 1000:.0f}", "ms",
                         "SLO p99 <= 30 s", "API write + watch + sync + iptables-restore"))
        finally:
            await proxy.stop()
    return rows


def run() -> list[Row]:
    netns = f"tgpxbench{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        return asyncio.run(_bench(netns))
    finally:
        subprocess.run(["ip", "netns", "del", netns])


if __name__ == "__main__":
    for row in run():
        print(row)
