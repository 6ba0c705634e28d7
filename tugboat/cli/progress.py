"""What `tug server` tells the person who started it: what is starting, what is ready, what
is missing.

A one-command cluster is only friendly if its start can be followed ("starting API server …
ready (0.4 s)", "node X Ready", "DNS ready") and if a missing prerequisite says what to do
instead of failing deep inside a child: the API port taken is fatal (nothing can work), while
not being root or lacking runc/CNI only means a control plane without a node, and a missing
registry only means no local registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO


class Progress:
    """Prints `tug: …` lines with the time since `t0` (the server's start)."""

    def __init__(self, out: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 t0: float | None = None):
        self.out = out
        self.clock = clock
        self.t0 = clock() if t0 is None else t0

    def say(self, msg: str) -> None:
        print(f"tug: {msg}", file=self.out or sys.stdout, flush=True)

    def since_start(self) -> float:
        return self.clock() - self.t0

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """`with progress.step("API server"):` → "tug: starting API server … ready (0.4 s)"
        (or "… failed (…)" if the body raises)."""
        t = self.clock()
        try:
            yield
        except BaseException as e:
            self.say(f"starting {what} … failed ({type(e).__name__}: {e})")
            raise
        self.say(f"starting {what} … ready ({self.clock() - t:.1f} s)")


def port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def preflight(host: str, port: int, *, want_node: bool, runc: str = "/usr/sbin/runc") -> tuple[str, list[str]]:
    """(fatal error or '', warnings) before anything starts."""
    if port_taken(host, port):
        return (f"port {port} on {host} is in use — is another `tug server` running? Stop it, or pick "
                f"another port with --port"), []
    warnings = []
    if want_node:
        if os.geteuid() != 0:
            warnings.append("not running as root: starting the control plane only (API server, controllers, "
                            "scheduler). A node needs root for containers, mounts and networking: run "
                            "`sudo tug server`, or pass --no-agent to silence this")
        else:
            from tugboat.cli.node_components import missing_prerequisite

            why = missing_prerequisite() or ("" if os.path.exists(runc) else f"runc not found at {runc} "
                                                                              "(apt-get install runc)")
            if why:
                warnings.append(f"{why}: starting the control plane only (no node agent, proxy or DNS; "
                                "--no-agent silences this)")
    return "", warnings


def dns_query(name: str, qtype: int = 1, qid: int = 0x7475) -> bytes:
    """A minimal DNS query packet (RD set) for `name`."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


async def dns_answers(server: str, name: str, port: int = 53, timeout: float = 1.0) -> bool:
    """True when `server` answers `name` with NOERROR and at least one answer record."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class _Proto(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not got.done():
                got.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(_Proto, remote_addr=(server, port))
    try:
        transport.sendto(dns_query(name))
        data = await asyncio.wait_for(got, timeout)
    except (TimeoutError, OSError):
        return False
    finally:
        transport.close()
    if len(data) < 12:
        return False
    _, flags, _, ancount = struct.unpack("!HHHH", data[:8])
    return flags & 0x000F == 0 and ancount > 0


async def _node_ready(client: Any, node: str) -> bool:
    with contextlib.suppress(Exception):
        obj = await client.request("GET", f"/api/v1/nodes/{node}")
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (obj.get("status") or {}).get("conditions") or [])
    return False


async def report_ready(progress: Progress, client: Any, node_name: str, dns_server: Callable[[], str] | None,
                       *, kubeconfig: Path, token_paths: list[Path], stop: asyncio.Event,
                       every: float = 0.1, hint_after: float = 30.0, logs: Path | None = None,
                       node_log: str = "agent.log", dns_log: str = "dns.log") -> float:
    """Print "node X Ready" and "DNS ready" as they happen (`dns_server()` gives the DNS
    server's address once known, '' before; None = no DNS; `node_name` '' = no node), then where the
    kubeconfig and join token are. Returns the seconds since start, or -1 if stopped first."""

    async def until(check: Callable[[], Any], what: str, log: str) -> bool:
        hint_at = progress.clock() + hint_after
        while not stop.is_set():
            if await check():
                return True
            if progress.clock() > hint_at:
                where = f" (see {logs / log})" if logs is not None else ""
                progress.say(f"still waiting for {what} after {hint_after:.0f} s{where}")
                hint_at = float("inf")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        return False

    if node_name:
        if not await until(lambda: _node_ready(client, node_name), f"node {node_name} to be Ready", node_log):
            return -1
        progress.say(f"node {node_name} Ready ({progress.since_start():.1f} s)")
    if dns_server is not None:
        get_server = dns_server

        async def dns_ok() -> bool:
            server = get_server()
            return bool(server) and await dns_answers(server, "kubernetes.default.svc.cluster.local")

        if not await until(dns_ok, "cluster DNS to answer", dns_log):
            return -1
        progress.say(f"DNS ready ({progress.since_start():.1f} s)")
    took = progress.since_start()
    progress.say(f"cluster ready in {took:.1f} s")
    progress.say(f"kubeconfig: {kubeconfig}  (export KUBECONFIG={kubeconfig}, or `tug kubeconfig`)")
    for p in token_paths:
        if p.exists():
            progress.say(f"join token: {p}")
            break
    return took
