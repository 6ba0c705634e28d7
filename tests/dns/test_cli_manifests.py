"""`tug dns` end to end (kubeconfig → informers → UDP/TCP + metrics) and the kube-dns
manifests the server creates as ordinary objects."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import aiohttp
import dns.asyncquery
import dns.message
import dns.rcode
import yaml

from tests.dns.conftest import SLICES, SVC, Env, a_records
from tests.dns.fakeupstream import fake_upstream
from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.cli.dns import add_dns_parser, parse_hostport, run_dns
from tugboat.dns import kube_dns_manifests, parse_upstreams
from tugboat.dns.forward import Upstream


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_kube_dns_manifests_are_valid_objects(env: Env) -> None:
    svc, sl, eps = kube_dns_manifests("10.96.0.10", node_ip="192.0.2.10", node_name="n1", dns_port=5353)
    await env.client.create(SVC, svc, namespace="kube-system")
    await env.client.create(SLICES, sl, namespace="kube-system")
    await env.client.create(rt("", "v1", "endpoints"), eps, namespace="kube-system")
    got = await env.client.get(SVC, "kube-dns", namespace="kube-system")
    assert got["spec"]["clusterIP"] == "10.96.0.10"
    assert [(p["name"], p["port"], p["protocol"], p["targetPort"]) for p in got["spec"]["ports"]] == [
        ("dns", 53, "UDP", 5353), ("dns-tcp", 53, "TCP", 5353), ("metrics", 9153, "TCP", 9153)]
    assert "selector" not in got["spec"]
    r = await env.settle("kube-dns.kube-system.svc.cluster.local", "A", lambda r: r.answer)
    assert a_records(r) == {"10.96.0.10"}
    r = await env.query("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV")
    assert r.answer[0][0].port == 53
    assert kube_dns_manifests() == [kube_dns_manifests(node_ip="1.2.3.4")[0]]


async def test_tug_dns_command(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_dns_parser(parser.add_subparsers())
    async with fake_upstream() as up, running_apiserver() as (_srv, client):
        kc = tmp_path / "kubeconfig"
        kc.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": client.config.server}}],
            "contexts": [{"name": "t", "context": {"cluster": "t"}}], "users": []}))
        port, mport = _free_port(), _free_port()
        args = parser.parse_args(["dns", "--kubeconfig", str(kc), "--listen", f"127.0.0.1:{port}",
                                  "--upstream", f"127.0.0.2:{up.port}", "--metrics", f"127.0.0.1:{mport}"])
        stop = asyncio.Event()
        task = asyncio.create_task(run_dns(args, stop))
        up.add("www.example.com", "A", 60, "192.0.2.7")
        try:
            async def ask(name: str) -> dns.message.Message | None:
                q = dns.message.make_query(name, "A")
                try:
                    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=0.5)
                except (TimeoutError, dns.exception.Timeout, OSError):
                    return None
            r = await eventually(lambda: ask("kubernetes.default.svc.cluster.local"), what="tug dns answers")
            assert r.rcode() == dns.rcode.NOERROR and r.answer
            r = await ask("www.example.com")
            assert r is not None and a_records(r) == {"192.0.2.7"}
            r = await dns.asyncquery.tcp(dns.message.make_query("kubernetes.default.svc.cluster.local", "A"),
                                         "127.0.0.1", port=port, timeout=5)
            assert r.answer
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{mport}/metrics") as resp:
                text = await resp.text()
            assert 'coredns_dns_requests_total{server="dns://",zone="cluster.local.",proto="udp",type="A"}' in text
            assert "coredns_forward_requests_total 1" in text
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0


def test_parse_addresses(tmp_path: Path) -> None:
    assert parse_hostport("10.96.0.10:53", 53) == ("10.96.0.10", 53)
    assert parse_hostport("10.96.0.10", 53) == ("10.96.0.10", 53)
    assert parse_hostport("[::1]:5353", 53) == ("::1", 5353)
    f = tmp_path / "resolv.conf"
    f.write_text("nameserver 127.0.0.53\nnameserver 192.0.2.1\n")
    assert parse_upstreams([str(f), "192.0.2.9:5353", "[2001:db8::1]:53"]) == [
        Upstream("127.0.0.53"), Upstream("192.0.2.1"), Upstream("192.0.2.9", 5353), Upstream("2001:db8::1")]


def test_host_upstreams_skip_loopback_stubs(tmp_path: Path) -> None:
    from tugboat.dns.upstreams import host_upstreams

    stub, real = tmp_path / "stub.conf", tmp_path / "real.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    real.write_text("nameserver 192.0.2.1\nnameserver ::1\n")
    assert host_upstreams(str(stub), str(real)) == [Upstream("192.0.2.1")]
    real.write_text("nameserver 127.0.0.1\n")
    assert host_upstreams(str(stub), str(real)) == []
