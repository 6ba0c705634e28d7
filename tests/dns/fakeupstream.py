"""A fake upstream resolver on 127.0.0.2 for the DNS tests: answers from a table, counts the
queries it gets, and can force truncation over UDP. The tests never reach a real resolver."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from tugboat.dns.forward import Upstream


class FakeUpstream:
    def __init__(self) -> None:
        # (name lower text, type) -> list of rrsets text rdatas; missing → NXDOMAIN
        self.records: dict[tuple[str, int], tuple[int, list[str]]] = {}
        self.truncate_udp: set[str] = set()
        self.queries: Counter[tuple[str, str]] = Counter()  # (proto, name)
        self.port = 0

    def add(self, name: str, rdtype: str, ttl: int, *rdatas: str) -> None:
        self.records[(name.lower().rstrip(".") + ".", dns.rdatatype.from_text(rdtype))] = (ttl, list(rdatas))

    def answer(self, data: bytes, tcp: bool) -> bytes:
        q = dns.message.from_wire(data)
        qn = q.question[0].name
        key = (qn.to_text().lower(), q.question[0].rdtype)
        self.queries[("tcp" if tcp else "udp", key[0])] += 1
        r = dns.message.make_response(q, recursion_available=True)
        if key[0] in self.truncate_udp and not tcp:
            r.flags |= dns.flags.TC
            return r.to_wire()
        if key in self.records:
            ttl, rdatas = self.records[key]
            r.answer.append(dns.rrset.from_text_list(qn, ttl, "IN", key[1], rdatas))
        elif any(n == key[0] for n, _ in self.records):
            r.authority.append(dns.rrset.from_text(
                "example.", 60, "IN", "SOA", "ns.example. admin.example. 1 7200 1800 86400 30"))
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(dns.rrset.from_text(
                "example.", 60, "IN", "SOA", "ns.example. admin.example. 1 7200 1800 86400 30"))
        return r.to_wire()

    @property
    def upstream(self) -> Upstream:
        return Upstream("127.0.0.2", self.port)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, fake: FakeUpstream):
        self.fake = fake

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(self.fake.answer(data, False), addr)


@contextlib.asynccontextmanager
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    loop = asyncio.get_running_loop()

    async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                n = int.from_bytes(await reader.readexactly(2), "big")
                wire = fake.answer(await reader.readexactly(n), True)
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(fake), local_addr=("127.0.0.2", 0))
    fake.port = transport.get_extra_info("sockname")[1]
    tcp = await asyncio.start_server(on_tcp, "127.0.0.2", fake.port)
    try:
        yield fake
    finally:
        transport.close()
        tcp.close()
        await tcp.wait_closed()
