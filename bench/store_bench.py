"""Store throughput: our durable backends against the raw engines under them, in one run.

Rows (each measured for a few seconds on this machine, same process, same disk):
- sqlite backend: durable creates/s from 50 concurrent callers (group commit).
- raw sqlite: INSERT + COMMIT per row, one thread, WAL + synchronous=FULL (the same
  durability as the backend: each acknowledged row survives SIGKILL/power loss).
- etcd backend: creates/s (CAS txn) from 1 and 50 concurrent callers.
- raw etcd gateway: plain /v3/kv/put requests, and the very CAS txn our create sends, from
  one bare aiohttp client, sequential and 50 concurrent — the gateway's own ceiling.
Run: .venv/bin/python -m bench.store_bench   (needs /usr/bin/etcd for the etcd rows)
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable

import aiohttp

from tugboat.store.etcd import EtcdBackend
from tugboat.store.sqlite import SqliteBackend
from tugboat.store.sqlite_log import SCHEMA, open_db

SECONDS = 3.0
VALUE = b'{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}' * 4  # ~260 bytes


async def rate(worker: Callable[[int, int], Awaitable[object]], callers: int, seconds: float = SECONDS) -> float:
    """Ops/s: `callers` tasks each calling worker(caller, n) until time runs out."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def loop(c: int) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < deadline:
            await worker(c, n)
            n += 1
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in range(callers)))
    return done / (time.perf_counter() - t0)


def raw_sqlite_rate(path: str, seconds: float = SECONDS) -> float:
    conn = open_db(path, synchronous="FULL")
    conn.executescript(SCHEMA)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += 1
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO log VALUES (?, ?, 1, 0, ?, 0, ?)", (n, f"/raw/{n}", n, VALUE))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


async def bench_sqlite(tmp: str) -> list[tuple[str, float]]:
    b = SqliteBackend(os.path.join(tmp, "bench.db"), compact_interval=None)
    await b.start()
    try:
        ours = await rate(lambda c, n: b.create(f"/bench/{c}/{n}", VALUE), 50)
    finally:
        await b.close()
    raw = await asyncio.to_thread(raw_sqlite_rate, os.path.join(tmp, "raw.db"))
    return [
        ("sqlite backend: durable creates, 50 concurrent callers", ours),
        ("raw sqlite: 1 INSERT+COMMIT per row, WAL, synchronous=FULL", raw),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_etcd(tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    client, peer = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
    args = ["/usr/bin/etcd", "--name", "b", "--data-dir", os.path.join(tmp, "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"b={peer}", "--log-level", "error", "--logger", "zap"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with urllib.request.urlopen(client + "/health", timeout=1) as r:
                if b"true" in r.read():
                    return proc, client
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("etcd did not start")


async def bench_etcd(endpoint: str) -> list[tuple[str, float]]:
    b = EtcdBackend([endpoint], prefix="/bench", compact_interval=None)
    await b.start()
    try:
        ours1 = await rate(lambda c, n: b.create(f"/one/{c}/{n}", VALUE), 1)
        ours50 = await rate(lambda c, n: b.create(f"/fifty/{c}/{n}", VALUE), 50)
    finally:
        await b.close()
    value = base64.b64encode(VALUE).decode()
    async with aiohttp.ClientSession() as s:

        async def put(c: int, n: int) -> None:
            key = base64.b64encode(f"/raw/{c}/{n}".encode()).decode()
            async with s.post(endpoint + "/v3/kv/put", json={"key": key, "value": value}) as r:
                await r.read()

        async def txn(c: int, n: int) -> None:  # the same CAS create our backend sends
            key = base64.b64encode(f"/rawtxn/{c}/{n}".encode()).decode()
            body = {
                "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
                "success": [{"request_put": {"key": key, "value": value}}],
                "failure": [{"request_range": {"key": key}}],
            }
            async with s.post(endpoint + "/v3/kv/txn", json=body) as r:
                await r.read()

        raw1 = await rate(put, 1)
        rawtxn1 = await rate(txn, 1)
        raw50 = await rate(put, 50)
        rawtxn50 = await rate(txn, 50)
    return [
        ("etcd backend: creates (CAS txn), 1 caller", ours1),
        ("raw etcd gateway: /v3/kv/put, 1 client, sequential", raw1),
        ("raw etcd gateway: same CAS /v3/kv/txn, 1 client, sequential", rawtxn1),
        ("etcd backend: creates (CAS txn), 50 concurrent callers", ours50),
        ("raw etcd gateway: /v3/kv/put, 50 concurrent", raw50),
        ("raw etcd gateway: same CAS /v3/kv/txn, 50 concurrent", rawtxn50),
    ]


async def run() -> list[tuple[str, float]]:
    tmp = tempfile.mkdtemp(prefix="tug-store-bench-")
    try:
        rows = await bench_sqlite(tmp)
        if os.path.exists("/usr/bin/etcd"):
            proc, endpoint = start_etcd(tmp)
            try:
                rows += await bench_etcd(endpoint)
            finally:
                proc.terminate()
                proc.wait(10)
        else:
            rows.append(("etcd: /usr/bin/etcd not installed, skipped", 0.0))
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    rows = asyncio.run(run())
    width = max(len(name) for name, _ in rows)
    print(f"{'measurement':<{width}}  {'ops/s':>9}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:>9.0f}")


if __name__ == "__main__":
    main()
