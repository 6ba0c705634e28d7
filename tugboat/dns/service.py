"""ClusterDNS: the informers, the zone, the forwarder and the listeners wired together — what
`tug dns` runs and what `tug server` embeds.

    dns = ClusterDNS(client, listen=("127.0.0.1", 0), upstreams=[Upstream("127.0.0.2", 5353)])
    await dns.start()      # informers synced (or timed out: SERVFAIL until they are), listening
    ...
    await dns.stop()
"""

from __future__ import annotations

import logging

from tugboat.client import Client, InformerFactory
from tugboat.dns.cluster import ClusterState
from tugboat.dns.forward import ForwardCache, Forwarder, Upstream
from tugboat.dns.handler import DnsHandler
from tugboat.dns.server import DnsServer
from tugboat.dns.zone import KubeZone

log = logging.getLogger(__name__)


class ClusterDNS:
    def __init__(self, client: Client, *, listen: tuple[str, int] = ("10.96.0.10", 53),
                 upstreams: list[Upstream] | None = None, cluster_domain: str = "cluster.local",
                 ttl: int = 5, pod_records: bool = True, dns_ip: str = "", cache_size: int = 10000,
                 forward_timeout: float = 2.0, factory: InformerFactory | None = None):
        self.factory = factory or InformerFactory(client)
        self._own_factory = factory is None
        self.state = ClusterState.watch(self.factory, pods=pod_records)
        self.zone = KubeZone(self.state, cluster_domain, ttl=ttl, dns_ip=dns_ip or listen[0])
        self.forwarder = Forwarder(upstreams or [], timeout=forward_timeout,
                                   cache=ForwardCache(cache_size, min_ttl=0))
        self.handler = DnsHandler(self.zone, self.forwarder, wire_ttl=float(ttl))
        self.server = DnsServer(self.handler, listen[0], listen[1])

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self, sync_timeout: float = 30.0) -> None:
        if self._own_factory:
            self.factory.start()
        if not await self.factory.wait_for_sync(sync_timeout):
            log.warning("dns: informers not synced after %.0fs; cluster names answer SERVFAIL until then",
                        sync_timeout)
        await self.server.start()
        log.info("dns: serving %s on %s:%d (udp+tcp), upstreams %s", self.zone.domain, self.server.host,
                 self.server.port, ", ".join(map(str, self.forwarder.upstreams)) or "none")

    async def stop(self) -> None:
        await self.server.stop()
        await self.forwarder.close()
        if self._own_factory:
            await self.factory.stop()
