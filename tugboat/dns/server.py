"""The DNS listeners: UDP and TCP on one address and port, on asyncio.

UDP answers already kept as wire bytes go back from `datagram_received` itself (no task, no
parsing); everything else becomes a task. TCP connections carry length-prefixed messages
(RFC 1035 4.2.2, RFC 7766), answered in order, closed after `tcp_idle` seconds of silence.
Port 0 picks a free port that is free for both protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tugboat.dns.handler import DnsHandler

log = logging.getLogger(__name__)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, handler: DnsHandler):
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        wire = self.handler.cached(data, False)
        if wire is not None:
            assert self.transport is not None
            self.transport.sendto(wire, addr)
            return
        t = asyncio.ensure_future(self._answer(data, addr))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: Any) -> None:
        try:
            wire = await self.handler.handle(data, tcp=False)
        except Exception:
            log.exception("dns: query from %s failed", addr)
            return
        if wire is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)


class DnsServer:
    def __init__(self, handler: DnsHandler, host: str = "127.0.0.1", port: int = 53, *, tcp_idle: float = 10.0):
        self.handler = handler
        self.host = host
        self.port = port
        self.tcp_idle = tcp_idle
        self._udp: _Udp | None = None
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            transport, proto = await loop.create_datagram_endpoint(lambda: _Udp(self.handler),
                                                                   local_addr=(self.host, self.port))
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_conn, self.host, port, reuse_address=True)
            except OSError:
                transport.close()
                if self.port != 0 or attempt == 19:
                    raise
                continue
            self._udp_transport, self._udp, self.port = transport, proto, port
            return

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        for t in list(self._conns):
            t.cancel()
        if self._udp is not None:
            for t in list(self._udp.tasks):
                t.cancel()
        if self._udp_transport is not None:
            self._udp_transport.close()
        tasks = list(self._conns) + (list(self._udp.tasks) if self._udp else [])
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tcp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        self._tcp = self._udp = self._udp_transport = None

    async def _tcp_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle)
                    data = await asyncio.wait_for(reader.readexactly(int.from_bytes(head, "big")), self.tcp_idle)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                wire = self.handler.cached(data, True)
                if wire is None:
                    wire = await self.handler.handle(data, tcp=True)
                if wire is None:
                    return
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
        except Exception:
            log.exception("dns: tcp connection failed")
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
