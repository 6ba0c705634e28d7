"""One DNS query in, one response out: the cluster zone first, the upstreams for the rest.

Parsing and rendering with dnspython costs tens of microseconds, more than answering, so
finished responses are also kept as wire bytes keyed by the query bytes after the ID (which
already include the flags, the question and the EDNS payload size that decide the answer).
A kept cluster answer is valid until the cluster changes (`ClusterState.generation`); a kept
forwarded answer for at most one second, so the TTLs it carries are off by under a second.
Both expire after `wire_ttl` seconds, which also bounds how long a headless answer keeps one
record order (dnspython shuffles records each time it renders, like CoreDNS's loadbalance).

UDP answers that do not fit 512 bytes (or the client's EDNS size) go back empty with TC set,
so the client asks again over TCP.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from tugboat.dns.forward import Forwarder
from tugboat.dns.zone import KubeZone

MAX_WIRE_ENTRIES = 20000
FORWARD_WIRE_TTL = 1.0


class DnsHandler:
    def __init__(self, zone: KubeZone, forwarder: Forwarder | None, *, wire_ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.zone = zone
        self.forwarder = forwarder
        self.wire_ttl = wire_ttl
        self.clock = clock
        # (tcp, query[2:]) -> (expires, generation or -1, response[2:])
        self._wire: dict[tuple[bool, bytes], tuple[float, int, bytes]] = {}
        self.requests: Counter[tuple[str, str]] = Counter()  # (proto, qtype)
        self.responses: Counter[str] = Counter()  # rcode name
        self.wire_hits = 0

    # -- fast path -------------------------------------------------------------------------

    def cached(self, data: bytes, tcp: bool) -> bytes | None:
        e = self._wire.get((tcp, data[2:]))
        if e is None:
            return None
        expires, gen, tail = e
        if self.clock() >= expires or (gen >= 0 and gen != self.zone.state.generation):
            self._wire.pop((tcp, data[2:]), None)
            return None
        self.wire_hits += 1
        self.requests[("tcp" if tcp else "udp", "cached")] += 1
        return data[:2] + tail

    # -- full path -------------------------------------------------------------------------

    async def handle(self, data: bytes, *, tcp: bool = False) -> bytes | None:
        """The response to one query (None: drop it, e.g. garbage or a response)."""
        try:
            q = dns.message.from_wire(data)
        except dns.message.ShortHeader:
            return None
        except dns.exception.DNSException:
            return _formerr(data)
        if q.flags & dns.flags.QR:
            return None
        r = dns.message.make_response(q, recursion_available=True, our_payload=1232)
        if q.opcode() != dns.opcode.QUERY or len(q.question) != 1:
            r.set_rcode(dns.rcode.NOTIMP if q.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
            return self._render(q, r, data, tcp, cacheable=None)
        question = q.question[0]
        qname, qtype, qclass = question.name, question.rdtype, question.rdclass
        self.requests[("tcp" if tcp else "udp", dns.rdatatype.to_text(qtype))] += 1
        ans = self.zone.resolve(qname, qtype) if qclass == dns.rdataclass.IN else None
        if ans is not None:
            r.flags |= dns.flags.AA
            r.set_rcode(dns.rcode.Rcode(ans.rcode))
            r.answer, r.authority, r.additional = list(ans.answer), list(ans.authority), list(ans.additional)
            if self.forwarder is not None:
                for target in ans.external:
                    fwd = await self.forwarder.resolve(target, qtype, qclass)
                    r.answer += [rrs for rrs in fwd.answer if rrs not in r.answer]
            gen = self.zone.state.generation if ans.rcode != dns.rcode.SERVFAIL and not ans.external else None
            return self._render(q, r, data, tcp, cacheable=gen)
        if self.forwarder is None:
            r.set_rcode(dns.rcode.REFUSED)
            return self._render(q, r, data, tcp, cacheable=None)
        fwd = await self.forwarder.resolve(qname, qtype, qclass)
        r.set_rcode(dns.rcode.Rcode(fwd.rcode))
        r.answer, r.authority, r.additional = list(fwd.answer), list(fwd.authority), list(fwd.additional)
        return self._render(q, r, data, tcp, cacheable=-1 if fwd.rcode != dns.rcode.SERVFAIL else None)

    def _render(self, q: dns.message.Message, r: dns.message.Message, data: bytes, tcp: bool,
                cacheable: int | None) -> bytes:
        limit = 65535 if tcp else max(512, q.payload if q.edns >= 0 else 512)
        try:
            wire = r.to_wire(max_size=limit)
        except dns.exception.TooBig:
            t = dns.message.make_response(q, recursion_available=True, our_payload=1232)
            t.flags |= dns.flags.TC | (r.flags & dns.flags.AA)
            t.set_rcode(r.rcode())
            wire = t.to_wire()
        self.responses[dns.rcode.to_text(r.rcode())] += 1
        if cacheable is not None:
            ttl = self.wire_ttl if cacheable >= 0 else min(self.wire_ttl, FORWARD_WIRE_TTL)
            if len(self._wire) >= MAX_WIRE_ENTRIES:
                self._wire.clear()
            self._wire[(tcp, data[2:])] = (self.clock() + ttl, cacheable, wire[2:])
        return wire


def _formerr(data: bytes) -> bytes | None:
    if len(data) < 12:
        return None
    # ID, then QR=1 with the query's opcode and RD, RCODE=FORMERR, all counts zero
    flags = 0x8000 | (data[2] & 0x79) << 8 | dns.rcode.FORMERR
    return data[:2] + flags.to_bytes(2, "big") + b"\x00" * 8
