"""Before the informers have listed, the cluster zone answers SERVFAIL (as CoreDNS does), so
clients retry instead of caching a wrong NXDOMAIN; other names are still forwarded."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype

from tugboat.client import Client, Config, InformerFactory
from tugboat.dns.cluster import ClusterState
from tugboat.dns.zone import KubeZone


async def test_cluster_zone_is_servfail_until_synced() -> None:
    client = Client(Config(server="http://127.0.0.1:1"))  # never started: nothing is listed
    try:
        state = ClusterState.watch(InformerFactory(client))
        zone = KubeZone(state)
        ans = zone.resolve(dns.name.from_text("web.default.svc.cluster.local."), dns.rdatatype.A)
        assert ans is not None and ans.rcode == dns.rcode.SERVFAIL
        assert zone.resolve(dns.name.from_text("www.example.com."), dns.rdatatype.A) is None  # forwarded
        # once synced the same question gets a real answer (SERVFAIL was not remembered)
        for inf in (state.services, state.slices, state.pods, state.namespaces):
            assert inf is not None
            inf.replace([], "1")
        ans = zone.resolve(dns.name.from_text("web.default.svc.cluster.local."), dns.rdatatype.A)
        assert ans is not None and ans.rcode == dns.rcode.NXDOMAIN
    finally:
        await client.close()
