"""Forwarding names outside the cluster zone to upstream resolvers, with a TTL-respecting cache.

What CoreDNS's `forward . /etc/resolv.conf` + `cache 30` give a cluster: queries go over UDP
to the first healthy upstream (the next one on timeout or SERVFAIL), a truncated answer is
asked again over TCP, and good answers are kept for their smallest TTL (capped at
`max_ttl`; NXDOMAIN/NODATA for the SOA's negative TTL, capped at `max_negative_ttl`) and
served with their TTLs counted down. Identical questions in flight share one upstream query.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

Key = tuple[dns.name.Name, int, int]


@dataclass(frozen=True, slots=True)
class Upstream:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(slots=True)
class Forwarded:
    rcode: int
    answer: list[dns.rrset.RRset]
    authority: list[dns.rrset.RRset]
    additional: list[dns.rrset.RRset]
    from_cache: bool = False


@dataclass(slots=True)
class _Entry:
    stored: float
    ttl: int
    result: Forwarded


class ForwardCache:
    """LRU of upstream answers keyed by (name, type, class); expired entries are misses."""

    def __init__(self, capacity: int = 10000, *, max_ttl: int = 3600, max_negative_ttl: int = 1800,
                 min_ttl: int = 0, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.max_ttl, self.max_negative_ttl, self.min_ttl = max_ttl, max_negative_ttl, min_ttl
        self.clock = clock
        self._data: OrderedDict[Key, _Entry] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Key) -> Forwarded | None:
        e = self._data.get(key)
        if e is None:
            self.misses += 1
            return None
        age = int(self.clock() - e.stored)
        if age >= e.ttl:
            del self._data[key]
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        r = e.result
        return Forwarded(r.rcode, _aged(r.answer, age), _aged(r.authority, age), _aged(r.additional, age), True)

    def put(self, key: Key, result: Forwarded) -> None:
        ttl = self.ttl_for(result)
        if ttl <= 0:
            return
        self._data[key] = _Entry(self.clock(), ttl, result)
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def ttl_for(self, r: Forwarded) -> int:
        if r.rcode == dns.rcode.NOERROR and r.answer:
            ttl = min(rrs.ttl for rrs in r.answer + r.authority)
            return max(self.min_ttl, min(ttl, self.max_ttl))
        if r.rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            soas = [rrs for rrs in r.authority if rrs.rdtype == dns.rdatatype.SOA]
            if not soas:
                return 0  # RFC 2308: no SOA, no negative caching
            ttl = min(soas[0].ttl, soas[0][0].minimum)
            return max(self.min_ttl, min(ttl, self.max_negative_ttl))
        return 0


def _aged(rrsets: list[dns.rrset.RRset], age: int) -> list[dns.rrset.RRset]:
    if age <= 0:
        return rrsets
    out = []
    for rrs in rrsets:
        c = rrs.copy()
        c.ttl = max(0, rrs.ttl - age)
        out.append(c)
    return out


class _UpstreamSocket(asyncio.DatagramProtocol):
    """One connected UDP socket to one upstream, queries multiplexed by random message ID
    (CoreDNS keeps a pool of upstream connections for the same reason: a socket per query
    costs more than the query)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        fut = self.pending.pop(int.from_bytes(data[:2], "big"), None) if len(data) >= 12 else None
        if fut is not None and not fut.done():
            fut.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        log.debug("upstream socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("upstream socket closed"))
        self.pending.clear()
        self.closed.set()

    async def ask(self, q: dns.message.Message, timeout: float) -> dns.message.Message:
        assert self.transport is not None
        while True:
            qid = random.getrandbits(16)
            if qid not in self.pending:
                break
        q.id = qid
        fut = asyncio.get_running_loop().create_future()
        self.pending[qid] = fut
        try:
            self.transport.sendto(q.to_wire())
            while True:
                data = await asyncio.wait_for(asyncio.shield(fut), timeout)
                r = dns.message.from_wire(data)
                if q.is_response(r):
                    return r
                fut = asyncio.get_running_loop().create_future()  # not ours (spoofed?): keep waiting
                self.pending[qid] = fut
        finally:
            self.pending.pop(qid, None)


class Forwarder:
    def __init__(self, upstreams: list[Upstream], *, timeout: float = 2.0, cache: ForwardCache | None = None):
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.cache = cache if cache is not None else ForwardCache()
        self._inflight: dict[Key, asyncio.Future[Forwarded]] = {}
        self._sockets: dict[Upstream, _UpstreamSocket] = {}
        self.upstream_queries = 0
        self.tcp_retries = 0

    async def close(self) -> None:
        socks, self._sockets = list(self._sockets.values()), {}
        for sock in socks:
            if sock.transport is not None:
                sock.transport.close()

    async def _socket(self, up: Upstream) -> _UpstreamSocket:
        sock = self._sockets.get(up)
        if sock is None or sock.closed.is_set():
            _, sock = await asyncio.get_running_loop().create_datagram_endpoint(
                _UpstreamSocket, remote_addr=(up.host, up.port))
            self._sockets[up] = sock
        return sock

    async def resolve(self, qname: dns.name.Name, qtype: int, qclass: int = 1) -> Forwarded:
        key = (qname, qtype, qclass)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await self._ask(qname, qtype, qclass)
            self.cache.put(key, result)
            fut.set_result(result)
            return result
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    async def _ask(self, qname: dns.name.Name, qtype: int, qclass: int) -> Forwarded:
        if not self.upstreams:
            return Forwarded(dns.rcode.SERVFAIL, [], [], [])
        q = dns.message.make_query(qname, dns.rdatatype.RdataType(qtype), dns.rdataclass.RdataClass(qclass),
                                   use_edns=0, payload=1232)
        last = dns.rcode.SERVFAIL
        for up in self.upstreams:
            try:
                self.upstream_queries += 1
                r = await (await self._socket(up)).ask(q, self.timeout)
                if r.flags & dns.flags.TC:
                    self.tcp_retries += 1
                    r = await dns.asyncquery.tcp(q, up.host, timeout=self.timeout, port=up.port)
            except (dns.exception.DNSException, OSError, EOFError) as e:
                log.debug("upstream %s failed for %s: %s", up, qname, e)
                continue
            if r.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                last = r.rcode()
                continue
            return Forwarded(r.rcode(), list(r.answer), list(r.authority), list(r.additional))
        return Forwarded(last if last != dns.rcode.REFUSED else dns.rcode.SERVFAIL, [], [], [])
