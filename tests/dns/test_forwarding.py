"""Names outside the cluster zone: forwarded to the (fake) upstream on 127.0.0.2, cached for
their TTL, retried over TCP when truncated; oversized answers to clients set TC."""

from __future__ import annotations

import asyncio
import socket

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

from tests.dns.conftest import SLICES, SVC, Env, a_records, endpoint_slice, ep, service
from tugboat.dns.forward import ForwardCache, Forwarded, Forwarder, Upstream


async def test_forwards_and_caches_external_names(env: Env) -> None:
    env.upstream.add("www.example.com", "A", 300, "192.0.2.1", "192.0.2.2")
    r = await env.query("www.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.AA
    assert a_records(r) == {"192.0.2.1", "192.0.2.2"}
    for tcp in (False, True, False):
        r = await env.query("www.example.com", "A", tcp=tcp)
        assert a_records(r) == {"192.0.2.1", "192.0.2.2"}
        assert 295 <= r.answer[0].ttl <= 300
    assert sum(env.upstream.queries.values()) == 1  # answered from the cache since


async def test_nxdomain_from_upstream_is_passed_on_and_cached(env: Env) -> None:
    for _ in range(3):
        r = await env.query("missing.example.org", "A")
        assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == dns.rdatatype.SOA
    assert env.upstream.queries[("udp", "missing.example.org.")] == 1


async def test_truncated_upstream_answer_is_retried_over_tcp(env: Env) -> None:
    many = [f"192.0.2.{i}" for i in range(1, 61)]  # ~1 KB: more than a plain UDP answer holds
    env.upstream.add("big.example.com", "A", 60, *many)
    env.upstream.truncate_udp.add("big.example.com.")
    r = await env.query("big.example.com", "A", payload=4096)  # client has room
    assert a_records(r) == set(many)
    assert env.upstream.queries[("udp", "big.example.com.")] == 1
    assert env.upstream.queries[("tcp", "big.example.com.")] == 1
    # a client without EDNS gets TC and asks again over TCP, like a stub resolver would
    r = await env.query("big.example.com", "A")
    assert r.flags & dns.flags.TC and not r.answer
    r = await env.query("big.example.com", "A", tcp=True)
    assert a_records(r) == set(many)


async def test_large_headless_answer_truncates_over_udp(env: Env) -> None:
    await env.client.create(SVC, service("wide", cluster_ip="None"), namespace="default")
    ips = [f"10.244.2.{i}" for i in range(1, 61)]
    await env.client.create(SLICES, endpoint_slice("wide", [ep(ip) for ip in ips]), namespace="default")
    r = await env.settle("wide.default.svc.cluster.local", "A", lambda r: r.flags & dns.flags.TC)
    assert not r.answer and r.flags & dns.flags.AA
    r = await env.query("wide.default.svc.cluster.local", "A", tcp=True)
    assert a_records(r) == set(ips)
    r = await env.query("wide.default.svc.cluster.local", "A", payload=4096)
    assert not r.flags & dns.flags.TC and a_records(r) == set(ips)


async def test_cluster_answers_change_as_soon_as_the_cluster_does(env: Env) -> None:
    """The wire cache must not serve an answer older than the cluster state."""
    await env.client.create(SVC, service("hl", cluster_ip="None"), namespace="default")
    sl = await env.client.create(SLICES, endpoint_slice("hl", [ep("10.244.0.1")]), namespace="default")
    await env.settle("hl.default.svc.cluster.local", "A", lambda r: a_records(r) == {"10.244.0.1"})
    sl["endpoints"] = [ep("10.244.0.2")]
    await env.client.update(SLICES, sl, namespace="default")
    await env.settle("hl.default.svc.cluster.local", "A", lambda r: a_records(r) == {"10.244.0.2"})


async def test_garbage_gets_formerr_and_short_packets_are_dropped(env: Env) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.connect(("127.0.0.1", env.server.port))
        s.send(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff")  # question runs off the end
        data = await asyncio.wait_for(loop.sock_recv(s, 512), 5)
    assert data[:2] == b"\x12\x34" and data[3] & 0x0F == dns.rcode.FORMERR and data[2] & 0x80


async def test_upstream_failures_become_servfail() -> None:
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    dead.bind(("127.0.0.2", 0))
    try:
        fwd = Forwarder([Upstream("127.0.0.2", dead.getsockname()[1])], timeout=0.2)
        r = await fwd.resolve(dns.name.from_text("x.example."), dns.rdatatype.A)
        assert r.rcode == dns.rcode.SERVFAIL
        assert len(fwd.cache) == 0  # failures are not cached
        assert (await Forwarder([]).resolve(dns.name.from_text("x."), 1)).rcode == dns.rcode.SERVFAIL
    finally:
        dead.close()


def test_cache_counts_ttls_down_and_expires() -> None:
    now = [1000.0]
    cache = ForwardCache(clock=lambda: now[0], max_ttl=100)
    key = (dns.name.from_text("a.example."), 1, 1)
    ans = dns.rrset.from_text("a.example.", 300, "IN", "A", "192.0.2.1")
    cache.put(key, Forwarded(dns.rcode.NOERROR, [ans], [], []))
    now[0] += 30
    hit = cache.get(key)
    assert hit is not None and hit.from_cache and hit.answer[0].ttl == 270
    now[0] += 70  # capped at max_ttl=100
    assert cache.get(key) is None
    soa = dns.rrset.from_text("example.", 60, "IN", "SOA", "ns. admin. 1 2 3 4 10")
    cache.put(key, Forwarded(dns.rcode.NXDOMAIN, [], [soa], []))
    assert cache.ttl_for(Forwarded(dns.rcode.NXDOMAIN, [], [soa], [])) == 10  # min(SOA ttl, minimum)
    assert cache.ttl_for(Forwarded(dns.rcode.NXDOMAIN, [], [], [])) == 0
    assert cache.ttl_for(Forwarded(dns.rcode.SERVFAIL, [], [], [])) == 0


def test_cache_is_bounded() -> None:
    cache = ForwardCache(capacity=2)
    ans = dns.rrset.from_text("a.example.", 300, "IN", "A", "192.0.2.1")
    for i in range(3):
        cache.put((dns.name.from_text(f"n{i}.example."), 1, 1), Forwarded(0, [ans], [], []))
    assert len(cache) == 2 and cache.get((dns.name.from_text("n0.example."), 1, 1)) is None
