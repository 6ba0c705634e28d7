"""Agents learn every API server: the lease endpoint reconciler keeps `default/kubernetes`
listing the live servers (records with a TTL), and an agent's ServerList turns that into its
client's failover list."""

from __future__ import annotations

from tests.support.apiserver import running_apiserver
from tugboat.apiserver.endpoints_reconciler import LeaseEndpointReconciler, endpoints_for
from tugboat.cli.apiservers import ServerList, merge, urls_of
from tugboat.client import Config

EP = "/api/v1/namespaces/default/endpoints/kubernetes"


def test_endpoints_for_groups_ports() -> None:
    assert endpoints_for([("10.0.0.2", 6443), ("10.0.0.1", 6443), ("10.0.0.1", 7443)]) == [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
        {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]}]


async def test_servers_join_expire_and_leave() -> None:
    now = [1000.0]
    async with running_apiserver() as (srv, client):
        a = LeaseEndpointReconciler(srv, "10.0.0.1", 6443, now=lambda: now[0])
        b = LeaseEndpointReconciler(srv, "10.0.0.2", 6443, now=lambda: now[0])
        await a.reconcile()
        await b.reconcile()
        ep = await client.request("GET", EP)
        assert ep["subsets"] == endpoints_for([("10.0.0.1", 6443), ("10.0.0.2", 6443)])
        assert ep["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"
        # B stops renewing (crashed): after the TTL, A's next reconcile drops it
        now[0] += 10
        await a.reconcile()
        assert len((await client.request("GET", EP))["subsets"][0]["addresses"]) == 2  # 10 s < 15 s TTL
        now[0] += 10
        assert await a.reconcile() == [("10.0.0.1", 6443)]
        assert (await client.request("GET", EP))["subsets"] == endpoints_for([("10.0.0.1", 6443)])
        # B comes back, then stops cleanly: removed at once, without waiting for the TTL
        await b.reconcile()
        assert len((await client.request("GET", EP))["subsets"][0]["addresses"]) == 2
        await b.stop()
        assert (await client.request("GET", EP))["subsets"] == endpoints_for([("10.0.0.1", 6443)])


async def test_loopback_servers_are_listed_too() -> None:
    """Validation refuses 127.0.0.1 in Endpoints (as upstream); servers on one host still list."""
    async with running_apiserver() as (srv, client):
        await LeaseEndpointReconciler(srv, "127.0.0.1", 6443).reconcile()
        await LeaseEndpointReconciler(srv, "127.0.0.1", 7443).reconcile()
        got = await client.request("GET", EP)
        assert urls_of(got) == ["https://127.0.0.1:6443", "https://127.0.0.1:7443"]
        first_uid = got["metadata"]["uid"]
        await LeaseEndpointReconciler(srv, "127.0.0.2", 6443).reconcile()
        got = await client.request("GET", EP)
        assert got["metadata"]["uid"] == first_uid and len(urls_of(got)) == 3


def test_urls_and_merge() -> None:
    ep = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                       "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}
    assert urls_of(ep) == ["https://10.0.0.1:6443", "https://[fd00::1]:6443"]
    cfg = Config(server="https://10.0.0.9:6443")
    assert merge(cfg, urls_of(ep), ("https://10.0.0.9:6443",))
    assert cfg.servers == ("https://10.0.0.9:6443", "https://10.0.0.1:6443", "https://[fd00::1]:6443")
    assert not merge(cfg, urls_of(ep), ("https://10.0.0.9:6443",))  # unchanged
    assert cfg.failover() and cfg.server == "https://10.0.0.1:6443"


async def test_server_list_reads_default_kubernetes() -> None:
    async with running_apiserver() as (srv, client):
        await LeaseEndpointReconciler(srv, "10.0.0.1", 6443).reconcile()
        lister = ServerList(client)
        assert await lister.refresh() == ["https://10.0.0.1:6443"]
        assert client.config.servers == ()  # this test client speaks plain http: https servers are no use to it
