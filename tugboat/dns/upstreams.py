"""Which resolvers the cluster DNS forwards to.

By default the host's: the `nameserver` lines of /etc/resolv.conf, minus loopback stubs
(systemd-resolved's 127.0.0.53 would be unreachable from a pod's point of view, and a
forwarder that points at itself loops) — when only stubs are left, systemd-resolved's real
list in /run/systemd/resolve/resolv.conf, the file kubeadm hands the kubelet in that case.
`--upstream` takes files in resolv.conf format or addresses (`IP`, `IP:port`, `[v6]:port`).
"""

from __future__ import annotations

import ipaddress
import os

from tugboat.dns.forward import Upstream

HOST_RESOLV = "/etc/resolv.conf"
SYSTEMD_RESOLV = "/run/systemd/resolve/resolv.conf"


def parse_nameservers(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            out.append(fields[1])
    return out


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def from_resolv_conf(path: str, *, keep_loopback: bool = False) -> list[Upstream]:
    try:
        with open(path) as f:
            servers = parse_nameservers(f.read())
    except OSError:
        return []
    return [Upstream(s) for s in servers if keep_loopback or not _is_loopback(s)]


def host_upstreams(path: str = HOST_RESOLV, fallback: str = SYSTEMD_RESOLV) -> list[Upstream]:
    ups = from_resolv_conf(path)
    if not ups and fallback and os.path.exists(fallback):
        ups = from_resolv_conf(fallback)
    return ups


def parse_address(text: str) -> Upstream:
    """`1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` → Upstream (ValueError otherwise)."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
        ipaddress.ip_address(host)
        return Upstream(host, int(port) if port else 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        ipaddress.ip_address(host)
        return Upstream(host, int(port))
    ipaddress.ip_address(text)
    return Upstream(text)


def parse_upstreams(specs: list[str]) -> list[Upstream]:
    """Each spec is an address or a resolv.conf-format file (whose loopback entries are kept:
    naming a file is a deliberate choice). Empty → the host's upstreams."""
    if not specs:
        return host_upstreams()
    out: list[Upstream] = []
    for spec in specs:
        if os.path.sep in spec or os.path.isfile(spec):
            out += from_resolv_conf(spec, keep_loopback=True)
        else:
            out.append(parse_address(spec))
    return out
