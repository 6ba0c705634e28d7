"""Cluster DNS: what CoreDNS's kubernetes plugin (+ forward and cache) gives a cluster.

Answers `<svc>.<ns>.svc.<domain>`, endpoint, SRV, pod and PTR names from informers on Services,
EndpointSlices, Pods and Namespaces (zone.py has the schema), forwards everything else to the
host's resolvers with a TTL cache (forward.py), over UDP and TCP (server.py). `ClusterDNS`
(service.py) wires it together; `kube_dns_manifests` gives the kube-system/kube-dns Service
that pods' resolv.conf points at.
"""

from tugboat.dns.cluster import ClusterState
from tugboat.dns.forward import ForwardCache, Forwarder, Upstream
from tugboat.dns.handler import DnsHandler
from tugboat.dns.manifests import kube_dns_manifests
from tugboat.dns.server import DnsServer
from tugboat.dns.service import ClusterDNS
from tugboat.dns.upstreams import host_upstreams, parse_upstreams
from tugboat.dns.zone import KubeZone

__all__ = ["ClusterDNS", "ClusterState", "DnsHandler", "DnsServer", "ForwardCache", "Forwarder", "KubeZone",
           "Upstream", "host_upstreams", "kube_dns_manifests", "parse_upstreams"]
