"""Fixtures: an in-process API server, a fake upstream on 127.0.0.2 and a ClusterDNS on
127.0.0.1 (random port) reading the API server; `query()` asks it over UDP or TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype
import pytest

from tests.dns.fakeupstream import FakeUpstream, fake_upstream
from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.client import Client
from tugboat.dns.service import ClusterDNS

SVC = rt("", "v1", "services")
SLICES = rt("discovery.k8s.io", "v1", "endpointslices")
PODS = rt("", "v1", "pods")
NAMESPACES = rt("", "v1", "namespaces")


@dataclass
class Env:
    client: Client
    server: ClusterDNS
    upstream: FakeUpstream

    async def query(self, name: str, rdtype: str = "A", *, tcp: bool = False,
                    payload: int | None = None) -> dns.message.Message:
        if payload:
            q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype), use_edns=0, payload=payload)
        else:  # a plain stub resolver: no EDNS, 512-byte UDP answers
            q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype), use_edns=False)
        if tcp:
            return await dns.asyncquery.tcp(q, "127.0.0.1", port=self.server.port, timeout=5)
        return await dns.asyncquery.udp(q, "127.0.0.1", port=self.server.port, timeout=5)

    async def settle(self, name: str, rdtype: str, pred: Any, what: str = "") -> dns.message.Message:
        """Query until the answer satisfies `pred` (informers are eventually consistent)."""
        async def ok() -> dns.message.Message | None:
            r = await self.query(name, rdtype)
            return r if pred(r) else None
        return await eventually(ok, timeout=10, what=what or f"{name} {rdtype}")


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with fake_upstream() as up, running_apiserver() as (_srv, client):
        d = ClusterDNS(client, listen=("127.0.0.1", 0), upstreams=[up.upstream], forward_timeout=1.0)
        await d.start(sync_timeout=10)
        try:
            yield Env(client, d, up)
        finally:
            await d.stop()


def service(name: str, ns: str = "default", *, cluster_ip: str | None = None,
            ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"ports": ports if ports is not None else [{"name": "http", "port": 80}], **spec}
    if cluster_ip:
        s["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": s}


def endpoint_slice(svc: str, endpoints: list[dict[str, Any]], ns: str = "default", *,
                   ports: list[dict[str, Any]] | None = None, name: str | None = None) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{svc}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def ep(ip: str, ready: bool = True, hostname: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"addresses": [ip], "conditions": {"ready": ready}}
    if hostname:
        e["hostname"] = hostname
    return e


def a_records(r: dns.message.Message | list[Any]) -> set[str]:
    """The A addresses in a response's answer section (or in a list of rrsets)."""
    rrsets = r if isinstance(r, list) else r.answer
    return {rd.address for rrs in rrsets if rrs.rdtype == dns.rdatatype.A for rd in rrs}
