"""The kube-dns Service (and where it points) as ordinary API objects.

Clusters find their DNS through the `kube-dns` Service in kube-system (kubeadm and k3s keep
that name for CoreDNS; pods' resolv.conf names its ClusterIP, 10.96.0.10 in the default service
CIDR). Tugboat's DNS is not a pod, so the Service has no selector and its endpoints are written
here, pointing at the node address the server listens on: an EndpointSlice managed by
"dns.tugboat.io" (so the EndpointSlice controller leaves it alone) and the legacy Endpoints
object, marked skip-mirror so the mirroring controller does not copy it into a second slice.
"""

from __future__ import annotations

from typing import Any

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
MANAGED_BY = "dns.tugboat.io"
METRICS_PORT = 9153

_LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}


def _ports(dns_port: int, metrics_port: int) -> list[dict[str, Any]]:
    return [{"name": "dns", "port": dns_port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": dns_port, "protocol": "TCP"},
            {"name": "metrics", "port": metrics_port, "protocol": "TCP"}]


def kube_dns_manifests(cluster_ip: str = "10.96.0.10", *, node_ip: str | None = None,
                       node_name: str | None = None, dns_port: int = 53,
                       metrics_port: int = METRICS_PORT) -> list[dict[str, Any]]:
    """[Service] or, with `node_ip`, [Service, EndpointSlice, Endpoints] for kube-system/kube-dns.
    `node_ip` must be a routable node address: the API rejects loopback endpoint addresses.
    `dns_port`/`metrics_port` are where the server listens on the node (the Service keeps 53/9153)."""
    svc = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE, "labels": dict(_LABELS),
                     "annotations": {"prometheus.io/port": str(METRICS_PORT), "prometheus.io/scrape": "true"}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ports": [{**p, "targetPort": t} for p, t in zip(
                     _ports(53, METRICS_PORT), (dns_port, dns_port, metrics_port), strict=True)]},
    }
    if not node_ip:
        return [svc]
    endpoint: dict[str, Any] = {"addresses": [node_ip],
                                "conditions": {"ready": True, "serving": True, "terminating": False}}
    if node_name:
        endpoint["nodeName"] = node_name
    ports = _ports(dns_port, metrics_port)
    eps_slice = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE,
                     "labels": {**_LABELS, "kubernetes.io/service-name": DNS_SERVICE,
                                "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
        "addressType": "IPv4", "endpoints": [endpoint], "ports": ports,
    }
    address: dict[str, Any] = {"ip": node_ip}
    if node_name:
        address["nodeName"] = node_name
    endpoints = {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE,
                     "labels": {**_LABELS, "endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [address], "ports": ports}],
    }
    return [svc, eps_slice, endpoints]
