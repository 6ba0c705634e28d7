"""What `tug server` prints while starting: steps with their time, missing prerequisites, and
node/DNS readiness from real checks (a real API server, a real UDP DNS answer)."""

from __future__ import annotations

import asyncio
import io
import socket
import struct
from pathlib import Path

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.cli.progress import Progress, dns_answers, dns_query, preflight, report_ready


async def _said(out: io.StringIO, text: str) -> bool:
    return text in out.getvalue()


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_step_prints_what_and_how_long() -> None:
    out, clock = io.StringIO(), Clock()
    p = Progress(out, clock)
    with p.step("API server"):
        clock.t += 0.42
    with pytest.raises(OSError), p.step("registry"):
        raise OSError("boom")
    assert out.getvalue().splitlines() == ["tug: starting API server … ready (0.4 s)",
                                           "tug: starting registry … failed (OSError: boom)"]


def test_preflight_port_taken_is_fatal() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        fatal, _ = preflight("127.0.0.1", s.getsockname()[1], want_node=False)
    assert "is in use" in fatal and "--port" in fatal


def test_preflight_without_runc_warns_control_plane_only(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fatal, warnings = preflight("127.0.0.1", port, want_node=True, runc=str(tmp_path / "runc"))
    assert fatal == "" and len(warnings) == 1
    assert "runc" in warnings[0] or "not running as root" in warnings[0]
    assert preflight("127.0.0.1", port, want_node=False, runc=str(tmp_path / "runc")) == ("", [])


class _Responder(asyncio.DatagramProtocol):
    """Answers every query with NOERROR and one A record (or NXDOMAIN for `nx.`)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport

    def datagram_received(self, data: bytes, addr: object) -> None:
        qid = struct.unpack("!H", data[:2])[0]
        nx = b"\x02nx\x00" in data
        hdr = struct.pack("!HHHHHH", qid, 0x8183 if nx else 0x8180, 1, 0 if nx else 1, 0, 0)
        ans = b"" if nx else b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + bytes([10, 96, 0, 1])
        self.t.sendto(hdr + data[12:] + ans, addr)  # type: ignore[attr-defined]


async def test_dns_answers() -> None:
    assert dns_query("a.b")[12:] == b"\x01a\x01b\x00\x00\x01\x00\x01"
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Responder, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        assert await dns_answers("127.0.0.1", "kubernetes.default.svc.cluster.local", port)
        assert not await dns_answers("127.0.0.1", "nx", port)
    finally:
        transport.close()
    assert not await dns_answers("127.0.0.1", "x", port, timeout=0.2)  # nobody listening


async def test_report_ready_waits_for_the_node_then_dns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    token = tmp_path / "server" / "token"
    token.parent.mkdir()
    token.write_text("K10…")
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Responder, local_addr=("127.0.0.1", 0))
    dns_port = transport.get_extra_info("sockname")[1]
    dns_addr = ""
    async with running_apiserver() as (_srv, client):
        import tugboat.cli.progress as progress_mod

        async def answers(server: str, name: str, port: int = 53, timeout: float = 1.0) -> bool:
            return await dns_answers(server, name, dns_port, timeout)  # our responder, not port 53

        monkeypatch.setattr(progress_mod, "dns_answers", answers)
        try:
            task = asyncio.create_task(report_ready(Progress(out), client, "n1", lambda: dns_addr,
                                                    kubeconfig=tmp_path / "kc", token_paths=[token],
                                                    stop=asyncio.Event(), every=0.02))
            nodes = rt("", "v1", "nodes")
            await client.create(nodes, {"metadata": {"name": "n1"}})
            await asyncio.sleep(0.1)
            assert "Ready" not in out.getvalue()  # the node exists but is not Ready yet
            node = await client.get(nodes, "n1")
            node["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
            await client.update_status(nodes, node)
            await eventually(lambda: _said(out, "node n1 Ready"), what="node Ready reported")
            await asyncio.sleep(0.1)
            assert "DNS ready" not in out.getvalue()  # no DNS address yet
            dns_addr = "127.0.0.1"
            took = await asyncio.wait_for(task, 30)
        finally:
            transport.close()
    lines = out.getvalue().splitlines()
    assert took >= 0 and lines[1].startswith("tug: DNS ready")
    assert lines[2].startswith("tug: cluster ready in") and f"join token: {token}" in lines[-1]


async def test_report_ready_says_what_it_still_waits_for(tmp_path: Path) -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, clock)
    stop = asyncio.Event()
    async with running_apiserver() as (_srv, client):
        task = asyncio.create_task(report_ready(progress, client, "ghost", None, kubeconfig=tmp_path / "kc",
                                                token_paths=[], stop=stop, every=0.01, logs=tmp_path))
        await asyncio.sleep(0.05)
        assert "still waiting" not in out.getvalue()
        clock.t += 31  # the node never registers
        await eventually(lambda: _said(out, "still waiting for node ghost to be Ready after 30 s"),
                         what="the hint")
        assert str(tmp_path / "agent.log") in out.getvalue()
        stop.set()
        assert await asyncio.wait_for(task, 10) == -1
    assert out.getvalue().count("still waiting") == 1
