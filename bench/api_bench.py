"""API server benchmark against a real `tug server` (SQLite store, TLS).

Measures what issue 2 asks for: time from start to /readyz, idle RSS, single-object GET
throughput and p99 with 50 concurrent clients (wrk, bearer token), durable pod creates/s,
LIST of 10 000 pods, and watch fan-out to 100 watchers. Load comes from this process and wrk
on the same 2-core machine, so client CPU competes with the server: figures are lower bounds.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

TOKEN = "bench-token-0123456789"
Row = tuple[str, str, str, str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


async def _creates(base: str, ctx: ssl.SSLContext, ns: str, n: int, conc: int) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    conn = aiohttp.TCPConnector(ssl=ctx, limit=conc)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as s:
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                async with s.post(f"{base}/api/v1/namespaces/{ns}/pods", json=_pod(f"p-{i:05d}")) as r:
                    if r.status != 201:
                        raise RuntimeError(f"create failed: {r.status} {await r.text()}")
                    await r.read()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return n / (time.perf_counter() - t0)


async def _list_latency(base: str, ctx: ssl.SSLContext, ns: str) -> tuple[float, int]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), headers=headers) as s:
        times = []
        size = 0
        for _ in range(3):
            t0 = time.perf_counter()
            async with s.get(f"{base}/api/v1/namespaces/{ns}/pods") as r:
                body = await r.read()
                size = len(body)
            times.append(time.perf_counter() - t0)
        return statistics.median(times), size


async def _watch_fanout(base: str, ctx: ssl.SSLContext, ns: str, watchers: int, objects: int, rounds: int) -> float:
    """`watchers` clients watch a namespace while `objects` writers update their own object
    `rounds` times each, concurrently (so writes group-commit, as under real load). Returns the
    total events delivered per second, from the first write to the last event received."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    conn = aiohttp.TCPConnector(ssl=ctx, limit=watchers + objects + 10)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    expected = objects * rounds
    async with aiohttp.ClientSession(connector=conn, headers=headers, timeout=timeout) as s:
        async with s.post(f"{base}/api/v1/namespaces",
                          json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}) as r:
            await r.read()
        rv = "0"
        for i in range(objects):
            async with s.post(f"{base}/api/v1/namespaces/{ns}/configmaps",
                              json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"hot-{i}"}}) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]
        received = [0] * watchers
        done = asyncio.Event()
        last = [0.0]

        async def watch(i: int) -> None:
            url = f"{base}/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}"
            async with s.get(url) as r:
                async for chunk in r.content.iter_any():
                    received[i] += chunk.count(b"\n")
                    if received[i] >= expected:
                        last[0] = time.perf_counter()
                        if all(x >= expected for x in received):
                            done.set()
                        return

        async def writer(i: int) -> None:
            for j in range(rounds):
                async with s.patch(f"{base}/api/v1/namespaces/{ns}/configmaps/hot-{i}", data=f'{{"data":{{"j":"{j}"}}}}',
                                   headers={"Content-Type": "application/merge-patch+json"}) as r:
                    await r.read()

        tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
        await asyncio.sleep(1.0)
        t0 = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(objects)))
        await asyncio.wait_for(done.wait(), 120)
        for t in tasks:
            t.cancel()
        return watchers * expected / (last[0] - t0)


def _wrk(url: str, seconds: int = 10) -> tuple[float, float]:
    out = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {TOKEN}",
                          url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rps, p99


def run() -> list[Row]:
    rows: list[Row] = []
    tmp = Path(tempfile.mkdtemp(prefix="tug-bench-"))
    tokens = tmp / "tokens.csv"
    tokens.write_text(f'{TOKEN},bench,bench-uid,"system:masters"\n')
    port = _free_port()
    base = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(tmp / "data"),
                             "--port", str(port), "--token-auth-file", str(tokens), "--no-agent",
                             # the API server alone: no scheduler writing FailedScheduling for
                             # 10 000 node-less pods, no controllers
                             "--disable", "controller-manager,scheduler"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        with httpx.Client(verify=False, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
            while True:
                try:
                    if c.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.perf_counter() - t0 > 30:
                    raise RuntimeError("server did not start")
                time.sleep(0.01)
            ready = time.perf_counter() - t0
            rows.append(("start → /readyz OK", f"{ready:.2f}", "s", "target ≤ 2 s (k3s ~50 s)", "fresh data dir"))
            time.sleep(3)
            rows.append(("idle RSS", f"{_rss_mb(proc.pid):.0f}", "MB", "target ≤ 150 MB (k3s ~500 MB)", "after start"))
            c.post(f"{base}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": "bench"}})
            c.post(f"{base}/api/v1/namespaces/default/configmaps",
                   json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"}, "data": {"k": "v"}})
        if shutil.which("wrk"):
            rps, p99 = _wrk(f"{base}/api/v1/namespaces/default/configmaps/bench")
            rows.append(("GET configmap, 50 conns (wrk)", f"{rps:.0f}", "req/s", "target ≥ 5000", f"p99 {p99:.1f} ms (target ≤ 20)"))
        rate = asyncio.run(_creates(base, ctx, "bench", 3000, 50))
        rows.append(("pod creates, 50 concurrent", f"{rate:.0f}", "creates/s", "target ≥ 1000 (durable)", "SQLite, fsync"))
        # Fill to 10 000 pods for the LIST measurement.
        asyncio.run(_fill(base, ctx, "bench", 3000, 10_000))
        lat, size = asyncio.run(_list_latency(base, ctx, "bench"))
        rows.append(("LIST 10 000 pods", f"{lat * 1000:.0f}", "ms", "target ≤ 1000 ms", f"{size / 1e6:.1f} MB body"))
        eps = asyncio.run(_watch_fanout(base, ctx, "bench-watch", 100, 20, 25))
        rows.append(("watch fan-out, 100 watchers", f"{eps:.0f}", "events/s", "target ≥ 50 000",
                     "500 updates by 20 writers"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


async def _fill(base: str, ctx: ssl.SSLContext, ns: str, start: int, end: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    conn = aiohttp.TCPConnector(ssl=ctx, limit=50)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as s:
        it = iter(range(start, end))

        async def worker() -> None:
            for i in it:
                async with s.post(f"{base}/api/v1/namespaces/{ns}/pods", json=_pod(f"p-{i:05d}")) as r:
                    await r.read()

        await asyncio.gather(*(worker() for _ in range(50)))


if __name__ == "__main__":
    for r in run():
        print(r)
    os._exit(0)
