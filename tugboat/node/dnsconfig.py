"""A pod's /etc/resolv.conf from its dnsPolicy and dnsConfig — what the kubelet's DNS
configurer computes and containerd writes. Pure: the host file is read, nothing is written.

* ClusterFirst: the cluster DNS servers only, search `<ns>.svc.<domain> svc.<domain> <domain>`
  then the host's search domains, `options ndots:5`. A hostNetwork pod with ClusterFirst gets
  Default instead (ClusterFirstWithHostNet keeps the cluster DNS); no cluster DNS configured
  falls back to Default too (warning MissingClusterDNS).
* Default: the host's resolv.conf (its nameservers, last search line, last options line). An
  empty `host_resolv` is the kubelet's `--resolv-conf=""`: nameserver 127.0.0.1, search ".".
* None: nothing but the pod's dnsConfig.
* dnsConfig is appended for every policy: nameservers and searches de-duplicated, options by
  name with the pod's value winning.
* Limits (1.32): at most 3 nameservers; at most 32 search domains, each at most 253
  characters, the line at most 2048; cut with the kubelet's DNSConfigForming warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
MAX_SEARCH_LEN = 253
DEFAULT_OPTIONS = ("ndots:5",)


@dataclass
class PodDNS:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    # (event reason, message) the node agent should record as Warning events on the pod
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def as_sandbox_dns(self) -> dict[str, list[str]]:
        """The shape `SandboxConfig.dns` uses: {"servers", "searches", "options"}."""
        return {"servers": list(self.servers), "searches": list(self.searches), "options": list(self.options)}

    def render(self) -> str:
        """resolv.conf text, laid out as containerd writes it."""
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines += [f"nameserver {s}" for s in self.servers]
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, searches, options) as the kubelet parses them: nameservers accumulate,
    the last search and options lines win, search domains lose a trailing dot."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:]]
        elif fields[0] == "options":
            options = fields[1:]
    return servers, searches, options


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: list[str], extra: list[dict[str, Any]]) -> list[str]:
    opts: dict[str, str] = {}
    for op in existing:
        name, _, value = op.partition(":")
        opts[name] = value
    for pod_op in extra:
        pod_value = pod_op.get("value")
        opts[pod_op.get("name", "")] = "" if pod_value is None else str(pod_value)
    return [f"{k}:{v}" if v else k for k, v in opts.items()]


def _fit_searches(searches: list[str], warnings: list[tuple[str, str]]) -> list[str]:
    exceeded = len(searches) > MAX_SEARCH_PATHS
    out = searches[:MAX_SEARCH_PATHS]
    kept = [s for s in out if len(s) <= MAX_SEARCH_LEN]
    exceeded = exceeded or len(kept) != len(out)
    while kept and len(" ".join(kept)) > MAX_SEARCH_CHARS:
        kept.pop()
        exceeded = True
    if exceeded:
        warnings.append(("DNSConfigForming", "Search Line limits were exceeded, some search paths have been "
                         f"omitted, the applied search line is: {' '.join(kept)}"))
    return kept


def pod_dns(pod: dict[str, Any], *, cluster_dns: list[str], cluster_domain: str,
            host_resolv: str = "/etc/resolv.conf") -> PodDNS:
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    out = PodDNS()
    if host_resolv:
        try:
            with open(host_resolv) as f:
                out.servers, out.searches, out.options = parse_resolv_conf(f.read())
        except OSError as e:
            out.warnings.append(("DNSConfigForming", f"cannot read {host_resolv}: {e.strerror}"))
    mode = policy
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        mode = "Default"
    if mode in ("ClusterFirst", "ClusterFirstWithHostNet") and not cluster_dns:
        out.warnings.append(("MissingClusterDNS", "kubelet does not have ClusterDNS IP configured and cannot "
                             'create Pod using "ClusterFirst" policy. Falling back to "Default" policy.'))
        mode = "Default"
    if mode == "None":
        out = PodDNS(warnings=out.warnings)
    elif mode in ("ClusterFirst", "ClusterFirstWithHostNet"):
        out.servers = list(cluster_dns)
        if cluster_domain:
            out.searches = _unique([f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain,
                                    *out.searches])
        out.options = list(DEFAULT_OPTIONS)
    elif not host_resolv:  # Default with --resolv-conf="": resolve nothing but localhost
        out.servers, out.searches = ["127.0.0.1"], ["."]
    extra = spec.get("dnsConfig")
    if extra:
        out.servers = _unique(out.servers + list(extra.get("nameservers") or []))
        out.searches = _unique(out.searches + list(extra.get("searches") or []))
        out.options = _merge_options(out.options, list(extra.get("options") or []))
    if len(out.servers) > MAX_NAMESERVERS:
        out.servers = out.servers[:MAX_NAMESERVERS]
        out.warnings.append(("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been "
                             f"omitted, the applied nameserver line is: {' '.join(out.servers)}"))
    out.searches = _fit_searches(out.searches, out.warnings)
    return out


def pod_resolv_conf(pod: dict[str, Any], *, cluster_dns: list[str], cluster_domain: str,
                    host_resolv: str = "/etc/resolv.conf") -> str:
    """The /etc/resolv.conf text for `pod` (see the module docstring for the rules)."""
    return pod_dns(pod, cluster_dns=cluster_dns, cluster_domain=cluster_domain, host_resolv=host_resolv).render()
