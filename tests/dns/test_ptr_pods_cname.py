"""PTR, pod A records and ExternalName CNAMEs."""

from __future__ import annotations

import dns.rcode
import dns.rdatatype as T

from tests.dns.conftest import PODS, SLICES, SVC, Env, a_records, endpoint_slice, ep, service


def ptr_targets(r) -> set[str]:  # type: ignore[no-untyped-def]
    return {rd.target.to_text() for rrs in r.answer if rrs.rdtype == T.PTR for rd in rrs}


async def _pod(env: Env, name: str, ip: str, ns: str = "default") -> None:
    pod = await env.client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                                  namespace=ns)
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    await env.client.update_status(PODS, pod, namespace=ns)


async def test_ptr_for_service_endpoint_and_pod_ips(env: Env) -> None:
    await env.client.create(SVC, service("web", cluster_ip="10.96.0.70"), namespace="default")
    await env.client.create(SVC, service("db", cluster_ip="None"), namespace="default")
    await env.client.create(SLICES, endpoint_slice("db", [ep("10.244.0.20", hostname="db-0"), ep("10.244.0.21")]),
                            namespace="default")
    await _pod(env, "loner", "10.244.0.30")
    r = await env.settle("70.0.96.10.in-addr.arpa", "PTR", lambda r: r.answer)
    assert ptr_targets(r) == {"web.default.svc.cluster.local."}
    r = await env.settle("20.0.244.10.in-addr.arpa", "PTR", lambda r: r.answer)
    assert ptr_targets(r) == {"db-0.db.default.svc.cluster.local."}
    r = await env.settle("21.0.244.10.in-addr.arpa", "PTR", lambda r: r.answer)
    assert ptr_targets(r) == {"10-244-0-21.db.default.svc.cluster.local."}
    r = await env.settle("30.0.244.10.in-addr.arpa", "PTR", lambda r: r.answer)
    assert ptr_targets(r) == {"10-244-0-30.default.pod.cluster.local."}
    assert r.answer[0].ttl == 5
    assert not env.upstream.queries


async def test_unknown_reverse_names_go_upstream(env: Env) -> None:
    env.upstream.add("4.3.2.1.in-addr.arpa", "PTR", 300, "host.example.")
    r = await env.query("4.3.2.1.in-addr.arpa", "PTR")
    assert ptr_targets(r) == {"host.example."}
    assert env.upstream.queries[("udp", "4.3.2.1.in-addr.arpa.")] == 1


async def test_pod_a_records_insecure_mode(env: Env) -> None:
    r = await env.query("10-244-1-7.default.pod.cluster.local", "A")
    assert a_records(r) == {"10.244.1.7"} and r.answer[0].ttl == 5
    assert (await env.query("10-244-1-7.default.pod.cluster.local", "AAAA")).rcode() == dns.rcode.NOERROR
    for bad in ("10-244-1-300.default.pod.cluster.local", "10-244-1.default.pod.cluster.local",
                "10-244-1-7.nosuchns.pod.cluster.local"):
        assert (await env.query(bad, "A")).rcode() == dns.rcode.NXDOMAIN, bad


async def test_external_name_is_a_cname_chased_upstream(env: Env) -> None:
    env.upstream.add("db.example.com", "A", 300, "192.0.2.10")
    await env.client.create(SVC, service("ext", ports=[], type="ExternalName", externalName="db.example.com"),
                            namespace="default")
    r = await env.settle("ext.default.svc.cluster.local", "A", lambda r: r.answer)
    cname = r.answer[0]
    assert cname.rdtype == T.CNAME and cname[0].target.to_text() == "db.example.com." and cname.ttl == 5
    assert a_records(r) == {"192.0.2.10"}
    r = await env.query("ext.default.svc.cluster.local", "CNAME")
    assert [rrs.rdtype for rrs in r.answer] == [T.CNAME]


async def test_external_name_into_the_cluster_is_chased_locally(env: Env) -> None:
    await env.client.create(SVC, service("real", cluster_ip="10.96.0.80"), namespace="default")
    await env.client.create(SVC, service("alias", ports=[], type="ExternalName",
                                         externalName="real.default.svc.cluster.local"), namespace="default")
    r = await env.settle("alias.default.svc.cluster.local", "A", lambda r: len(r.answer) == 2)
    assert r.answer[0].rdtype == T.CNAME
    assert r.answer[1].name.to_text() == "real.default.svc.cluster.local."
    assert a_records(r) == {"10.96.0.80"}
    assert not env.upstream.queries


async def test_headless_aaaa_is_nodata(env: Env) -> None:
    await env.client.create(SVC, service("db", cluster_ip="None"), namespace="default")
    await env.client.create(SLICES, endpoint_slice("db", [ep("10.244.0.5")]), namespace="default")
    await env.settle("db.default.svc.cluster.local", "A", lambda r: r.answer)
    r = await env.query("db.default.svc.cluster.local", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority[0].rdtype == T.SOA
