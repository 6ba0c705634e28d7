"""Cluster-zone answers from objects created through the real API server, asked over UDP."""

from __future__ import annotations

import dns.flags
import dns.rcode
import dns.rdatatype as T

from tests.dns.conftest import SLICES, SVC, Env, a_records, endpoint_slice, ep, service


async def test_service_a_record_is_its_cluster_ip(env: Env) -> None:
    await env.client.create(SVC, service("web", cluster_ip="10.96.0.50"), namespace="default")
    r = await env.settle("web.default.svc.cluster.local", "A", lambda r: r.answer)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert a_records(r) == {"10.96.0.50"}
    assert r.answer[0].ttl == 5
    # names are case-insensitive and the answer keeps the asker's spelling
    r = await env.query("WEB.Default.svc.cluster.local", "A")
    assert a_records(r) == {"10.96.0.50"}
    assert r.answer[0].name.to_text() == "WEB.Default.svc.cluster.local."


async def test_the_kubernetes_service_resolves(env: Env) -> None:
    r = await env.query("kubernetes.default.svc.cluster.local", "A")
    assert r.rcode() == dns.rcode.NOERROR and len(a_records(r)) == 1


async def test_unknown_names_are_nxdomain_with_soa(env: Env) -> None:
    for name in ("nope.default.svc.cluster.local", "x.y.z.cluster.local", "web.nons.svc.cluster.local",
                 "nons.svc.cluster.local"):
        r = await env.query(name, "A")
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        assert r.flags & dns.flags.AA
        soa = r.authority[0]
        assert soa.rdtype == T.SOA and soa.name.to_text() == "cluster.local."
        assert soa.ttl == 5 and soa[0].minimum == 5
        assert soa[0].mname.to_text() == "ns.dns.cluster.local."
        assert soa[0].rname.to_text() == "hostmaster.cluster.local."
    assert not env.upstream.queries  # the cluster zone is never forwarded


async def test_existing_names_without_the_type_are_nodata(env: Env) -> None:
    await env.client.create(SVC, service("web", cluster_ip="10.96.0.51"), namespace="default")
    await env.settle("web.default.svc.cluster.local", "A", lambda r: r.answer)
    for name, rdtype in (("web.default.svc.cluster.local", "AAAA"), ("web.default.svc.cluster.local", "TXT"),
                         ("default.svc.cluster.local", "A"), ("svc.cluster.local", "A")):
        r = await env.query(name, rdtype)
        assert r.rcode() == dns.rcode.NOERROR, (name, rdtype)
        assert not r.answer and r.authority[0].rdtype == T.SOA


async def test_zone_apex_soa_ns_and_schema_version(env: Env) -> None:
    r = await env.query("cluster.local", "SOA")
    assert r.answer[0].rdtype == T.SOA and r.answer[0][0].refresh == 7200
    r = await env.query("cluster.local", "NS")
    assert r.answer[0][0].target.to_text() == "ns.dns.cluster.local."
    r = await env.query("dns-version.cluster.local", "TXT")
    assert r.answer[0][0].strings == (b"1.1.0",)


async def test_headless_service_follows_endpoint_readiness(env: Env) -> None:
    await env.client.create(SVC, service("db", cluster_ip="None"), namespace="default")
    # no endpoints yet: like CoreDNS, NXDOMAIN
    r = await env.settle("db.default.svc.cluster.local", "A", lambda r: r.rcode() == dns.rcode.NXDOMAIN)
    sl = await env.client.create(SLICES, endpoint_slice("db", [ep("10.244.0.5"), ep("10.244.0.6", ready=False)]),
                                 namespace="default")
    r = await env.settle("db.default.svc.cluster.local", "A", lambda r: a_records(r))
    assert a_records(r) == {"10.244.0.5"}
    sl["endpoints"] = [ep("10.244.0.5"), ep("10.244.0.6", ready=True), ep("10.244.0.7", ready=None)]  # type: ignore[arg-type]
    sl["endpoints"][2]["conditions"] = {}
    await env.client.update(SLICES, sl, namespace="default")
    r = await env.settle("db.default.svc.cluster.local", "A", lambda r: len(a_records(r)) == 3)
    assert a_records(r) == {"10.244.0.5", "10.244.0.6", "10.244.0.7"}  # unknown readiness counts as ready
    # endpoints split over two slices are merged
    await env.client.create(SLICES, endpoint_slice("db", [ep("10.244.1.9")], name="db-two"), namespace="default")
    r = await env.settle("db.default.svc.cluster.local", "A", lambda r: len(a_records(r)) == 4)


async def test_publish_not_ready_addresses_publishes_every_endpoint(env: Env) -> None:
    await env.client.create(SVC, service("peers", cluster_ip="None", publishNotReadyAddresses=True),
                            namespace="default")
    await env.client.create(SLICES, endpoint_slice("peers", [ep("10.244.0.5"), ep("10.244.0.6", ready=False)]),
                            namespace="default")
    r = await env.settle("peers.default.svc.cluster.local", "A", lambda r: len(a_records(r)) == 2)
    assert a_records(r) == {"10.244.0.5", "10.244.0.6"}


async def test_srv_for_named_ports_of_a_cluster_ip_service(env: Env) -> None:
    ports = [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090, "protocol": "TCP"},
             {"name": "dns", "port": 53, "protocol": "UDP"}]
    await env.client.create(SVC, service("api", cluster_ip="10.96.0.60", ports=ports), namespace="default")
    r = await env.settle("_http._tcp.api.default.svc.cluster.local", "SRV", lambda r: r.answer)
    (srv,) = r.answer[0]
    assert (srv.priority, srv.weight, srv.port) == (0, 100, 80)
    assert srv.target.to_text() == "api.default.svc.cluster.local."
    assert a_records(r.additional) == {"10.96.0.60"}
    r = await env.query("_dns._udp.api.default.svc.cluster.local", "SRV")
    assert [rd.port for rd in r.answer[0]] == [53]
    # wrong protocol or unknown port name: no such name
    for name in ("_dns._tcp.api.default.svc.cluster.local", "_nope._tcp.api.default.svc.cluster.local"):
        assert (await env.query(name, "SRV")).rcode() == dns.rcode.NXDOMAIN, name
    # SRV on the service name lists every port
    r = await env.query("api.default.svc.cluster.local", "SRV")
    assert sorted(rd.port for rd in r.answer[0]) == [53, 80, 9090]
    assert all(rd.weight == 33 for rd in r.answer[0])


async def test_headless_srv_points_at_each_endpoint(env: Env) -> None:
    await env.client.create(SVC, service("kafka", cluster_ip="None"), namespace="default")
    await env.client.create(SLICES, endpoint_slice("kafka", [ep("10.244.0.5", hostname="kafka-0"), ep("10.244.0.6")],
                                                   ports=[{"name": "broker", "port": 9092, "protocol": "TCP"}]),
                            namespace="default")
    r = await env.settle("_broker._tcp.kafka.default.svc.cluster.local", "SRV", lambda r: r.answer)
    targets = {(rd.target.to_text(), rd.port, rd.weight) for rd in r.answer[0]}
    assert targets == {("kafka-0.kafka.default.svc.cluster.local.", 9092, 50),
                       ("10-244-0-6.kafka.default.svc.cluster.local.", 9092, 50)}
    extra = {(rrs.name.to_text(), rd.address) for rrs in r.additional for rd in rrs}
    assert extra == {("kafka-0.kafka.default.svc.cluster.local.", "10.244.0.5"),
                     ("10-244-0-6.kafka.default.svc.cluster.local.", "10.244.0.6")}


async def test_statefulset_hostname_records(env: Env) -> None:
    await env.client.create(SVC, service("web", cluster_ip="None"), namespace="default")
    await env.client.create(SLICES, endpoint_slice("web", [ep("10.244.0.10", hostname="web-0"),
                                                           ep("10.244.0.11", hostname="web-1")]),
                            namespace="default")
    r = await env.settle("web-1.web.default.svc.cluster.local", "A", lambda r: r.answer)
    assert a_records(r) == {"10.244.0.11"}
    # an endpoint without a hostname answers under its dashed IP
    await env.client.create(SLICES, endpoint_slice("web", [ep("10.244.0.12")], name="web-2"), namespace="default")
    r = await env.settle("10-244-0-12.web.default.svc.cluster.local", "A", lambda r: r.answer)
    assert a_records(r) == {"10.244.0.12"}
    assert (await env.query("web-9.web.default.svc.cluster.local", "A")).rcode() == dns.rcode.NXDOMAIN
