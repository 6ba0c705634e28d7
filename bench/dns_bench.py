"""Cluster DNS benchmark: queries/s and latency for cluster names and forwarded names.

A child process runs an in-process API server (memory store) seeded with 1 000 ClusterIP
Services and 100 headless Services of 10 endpoints each, a fake upstream resolver on
127.0.0.2 (every name has an A record, TTL 300) and the ClusterDNS reading the API server, on
uvloop as `tug dns` runs. This process is the client: one UDP socket keeping N queries in
flight (dnsperf-style), so the client and the server each have one of the two cores.

Rows: cluster names as a pod asks them again and again (answers kept as wire bytes), cluster
names with random letter case (DNS 0x20: every query is new bytes, so each one is parsed,
answered and rendered), forwarded names answered from the cache, forwarded names that miss
the cache (one upstream round trip each), and unloaded p99 latency. The reference is CoreDNS
on a 2-vCPU node: 33 669 internal queries/s with both vCPUs pegged (coredns/deployment,
kubernetes/Scaling_CoreDNS.md).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time

Row = tuple[str, str, str, str, str]
N_SVC, N_HEADLESS, N_EPS = 1000, 100, 10
COREDNS_REF = "CoreDNS 33669 q/s, 2 vCPU"


# -- the server side (child process) ---------------------------------------------------------

async def _serve() -> None:
    from aiohttp.test_utils import TestServer

    from tugboat.api.scheme import default_scheme
    from tugboat.apiserver.context import Config as ServerConfig
    from tugboat.apiserver.server import ApiServer
    from tugboat.client import Client, Config
    from tugboat.dns.forward import Upstream
    from tugboat.dns.service import ClusterDNS
    from tugboat.store.memory import MemoryBackend

    class Upstream127(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t: asyncio.DatagramTransport = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            # answered by hand so the upstream costs next to nothing: the header with QR/RA,
            # the question, one A record pointing back at it (TTL 300), no EDNS
            i = 12
            while data[i]:
                i += data[i] + 1
            self.t.sendto(data[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + data[12:i + 5]
                          + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x01", addr)

    loop = asyncio.get_running_loop()
    up_t, _ = await loop.create_datagram_endpoint(Upstream127, local_addr=("127.0.0.2", 0))
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=ServerConfig(), authenticate=False)
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    client = Client(Config(server=f"http://127.0.0.1:{ts.port}"), qps=5000, burst=5000)
    sch = default_scheme()
    svc_rt, sl_rt, ns_rt = (sch.get("", "v1", "services"), sch.get("discovery.k8s.io", "v1", "endpointslices"),
                            sch.get("", "v1", "namespaces"))
    assert svc_rt and sl_rt and ns_rt
    await client.create(ns_rt, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
    sem = asyncio.Semaphore(32)

    async def svc(i: int) -> None:
        async with sem:
            await client.create(svc_rt, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}"},
                                         "spec": {"ports": [{"name": "http", "port": 80}]}}, namespace="bench")

    async def headless(i: int) -> None:
        async with sem:
            await client.create(svc_rt, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"hl-{i}"},
                                         "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}},
                                namespace="bench")
            eps = [{"addresses": [f"10.244.{i}.{j + 1}"], "conditions": {"ready": True}} for j in range(N_EPS)]
            await client.create(sl_rt, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                        "metadata": {"name": f"hl-{i}-x", "labels": {
                                            "kubernetes.io/service-name": f"hl-{i}"}},
                                        "addressType": "IPv4", "endpoints": eps,
                                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
                                namespace="bench")
    await asyncio.gather(*(svc(i) for i in range(N_SVC)), *(headless(i) for i in range(N_HEADLESS)))
    cdns = ClusterDNS(client, listen=("127.0.0.1", 0),
                      upstreams=[Upstream("127.0.0.2", up_t.get_extra_info("sockname")[1])])
    await cdns.start()
    print(f"READY {cdns.port}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await cdns.stop()
    await client.close()
    await ts.close()
    await srv.stop()
    await backend.close()
    up_t.close()


# -- the client side -------------------------------------------------------------------------

def _query(name: str, qid: int = 0) -> bytes:
    labels = b"".join(len(p).to_bytes(1, "big") + p.encode() for p in name.rstrip(".").split("."))
    # header: RD set, one question; no EDNS, like a glibc stub
    return qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"


def _random_case(name: str, rnd: random.Random) -> str:
    bits = rnd.getrandbits(len(name))
    return "".join(c.upper() if bits >> i & 1 else c for i, c in enumerate(name))


def _load(port: int, queries: list[bytes], duration: float, conc: int) -> tuple[float, list[float], int]:
    """(answers/s, latencies in s, errors) keeping `conc` queries in flight for `duration`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(0.5)
    sent: dict[int, float] = {}
    lat: list[float] = []
    errors = 0
    seq = 0
    perf = time.perf_counter

    def send() -> None:
        nonlocal seq
        qid = seq & 0xFFFF
        seq += 1
        sent[qid] = perf()
        s.send(qid.to_bytes(2, "big") + queries[seq % len(queries)][2:])

    try:
        for _ in range(conc):
            send()
        t0 = perf()
        end = t0 + duration
        while perf() < end:
            try:
                data = s.recv(65535)
            except TimeoutError:
                errors += len(sent)
                sent.clear()
                for _ in range(conc):
                    send()
                continue
            start = sent.pop(int.from_bytes(data[:2], "big"), None)
            if start is None:
                continue
            lat.append(perf() - start)
            if data[3] & 0x0F not in (0, 3):  # NOERROR / NXDOMAIN
                errors += 1
            send()
        return len(lat) / (perf() - t0), lat, errors
    finally:
        s.close()


def _pct(lat: list[float], p: float) -> float:
    if not lat:
        return float("nan")
    xs = sorted(lat)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def run(duration: float = 3.0, conc: int = 32) -> list[Row]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-m", "bench.dns_bench", "--serve"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"dns bench server failed to start: {line!r}")
        port = int(line.split()[1])
        rnd = random.Random(7)
        cluster = [f"svc-{i}.bench.svc.cluster.local" for i in range(N_SVC)]
        cluster += [f"hl-{i}.bench.svc.cluster.local" for i in range(N_HEADLESS)]
        external = [f"host{i}.example.com" for i in range(200)]
        cq = [_query(n) for n in cluster]
        eq = [_query(n) for n in external]
        _load(port, cq + eq, 1.0, conc)  # warm: informers, caches, both wire caches
        rows: list[Row] = []

        def measure(label: str, queries: list[bytes], note: str, c: int = conc, ref: str = COREDNS_REF) -> None:
            qps, lat, errors = _load(port, queries, duration, c)
            err = f"; {errors} errors" if errors else ""
            if c > 1:
                rows.append((f"dns {label} queries/s", f"{qps:.0f}", "q/s", ref, f"{c} in flight, {note}{err}"))
            rows.append((f"dns {label} p99 latency", f"{_pct(lat, 0.99):.2f}", "ms", "",
                         f"p50 {_pct(lat, 0.5):.2f} ms, {c} in flight, {note}{err}"))

        measure("cluster names", cq, f"{len(cq)} names, answers kept as wire bytes")
        mixed = [_query(_random_case(cluster[i % len(cluster)], rnd)) for i in range(int(duration * 40000))]
        measure("cluster names (0x20 case)", mixed, "every query new bytes: parsed, answered, rendered")
        measure("forwarded cached", eq, f"{len(eq)} names in the forward cache")
        misses = [_query(f"miss{i}.example.net") for i in range(200000)]
        measure("forwarded cache miss", misses, "unique names, fake upstream on 127.0.0.2", ref="")
        measure("cluster names unloaded", cq, "one query at a time", c=1, ref="")
        return rows
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _main() -> None:
    if "--serve" in sys.argv:
        try:
            import uvloop
            uvloop.run(_serve())
        except ImportError:
            asyncio.run(_serve())
        return
    for row in run():
        print(" | ".join(row))


if __name__ == "__main__":
    _main()
