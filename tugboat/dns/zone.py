"""The cluster zone: the Kubernetes DNS schema (the DNS-based service discovery spec that
CoreDNS's kubernetes plugin implements), answered from `ClusterState`.

    <svc>.<ns>.svc.<zone>                A (ClusterIP), every ready endpoint (headless),
                                         CNAME (ExternalName, chased when in the zone)
    <ep>.<svc>.<ns>.svc.<zone>           A; <ep> is the endpoint's hostname or dashed IP
    _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV per named port (headless: per endpoint)
    <a-b-c-d>.<ns>.pod.<zone>            A ("pods insecure": the name is the address)
    d.c.b.a.in-addr.arpa                 PTR for service, endpoint and pod IPs
    <zone>                               SOA, NS;  dns-version.<zone> TXT "1.1.0"

Unknown names are NXDOMAIN and names that exist without the asked type are NODATA, both with
the zone's SOA in the authority section (TTL 5 = negative TTL). Like CoreDNS, a headless
Service with no ready endpoints is NXDOMAIN, and the zone answers SERVFAIL until the
informers have synced. Names are IPv4-only: AAAA of an existing name is NODATA.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import cast

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype as T
import dns.rrset
from dns.rdata import Rdata
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.SRV import SRV

from tugboat.dns.cluster import ClusterState, Endpoint, Obj, dashed, endpoint_label, is_headless, service_ips

IN = dns.rdataclass.IN
REVERSE_V4 = dns.name.from_text("in-addr.arpa.")
DNS_SCHEMA_VERSION = b"1.1.0"
MAX_CHASE = 8


@dataclass
class Answer:
    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    # CNAME targets outside the zone, for the caller to resolve through the upstreams
    external: list[dns.name.Name] = field(default_factory=list)


# A lookup result: None = name does not exist; else (rdatas by owner, additional records).
Records = list[tuple[dns.name.Name, Rdata]]


class KubeZone:
    def __init__(self, state: ClusterState, domain: str = "cluster.local", *, ttl: int = 5,
                 dns_ip: str = ""):
        self.state = state
        self.origin = dns.name.from_text(domain.rstrip(".") + ".")
        self.domain = domain.rstrip(".")
        self.ttl = ttl
        self.dns_ip = dns_ip
        # answers by (name, type) — Name compares case-insensitively — for one generation
        self._answers: dict[tuple[dns.name.Name, int], Answer | None] = {}
        self._answers_gen = -1
        self._a_rdata: dict[str, A] = {}

    # -- entry points ----------------------------------------------------------------------

    def owns(self, qname: dns.name.Name) -> bool:
        return qname.is_subdomain(self.origin)

    def resolve(self, qname: dns.name.Name, qtype: int) -> Answer | None:
        """The answer for a name in the cluster zone, or a PTR we know; None = not ours.
        The Answer may be shared with later calls: do not modify it."""
        if self._answers_gen != self.state.generation or len(self._answers) > 50000:
            self._answers.clear()
            self._a_rdata.clear()
            self._answers_gen = self.state.generation
        key = (qname, qtype)
        if key in self._answers:
            return self._answers[key]
        ans = self._resolve(qname, qtype)
        if ans is None or ans.rcode != dns.rcode.SERVFAIL:
            self._answers[key] = ans
        return ans

    def _resolve(self, qname: dns.name.Name, qtype: int) -> Answer | None:
        if qname.is_subdomain(self.origin):
            if not self.state.has_synced():
                return Answer(dns.rcode.SERVFAIL)
            return self._answer(qname, qtype, 0)
        if qtype == T.PTR and qname.is_subdomain(REVERSE_V4):
            ip = _reverse_ip(qname)
            names = self.ptr_names(ip) if ip else []
            if names:
                rrs = self._rrset(qname, T.PTR, [PTR(IN, T.PTR, n) for n in names])
                return Answer(answer=[rrs])
        return None  # not ours: forward (CoreDNS: fallthrough in-addr.arpa)

    # -- the zone --------------------------------------------------------------------------

    def _answer(self, qname: dns.name.Name, qtype: int, depth: int) -> Answer:
        found = self._lookup(qname, qtype)
        if found is None:
            return Answer(dns.rcode.NXDOMAIN, authority=[self.soa_rrset()])
        records, extra = found
        cnames = [rd for _, rd in records if rd.rdtype == T.CNAME]
        if cnames and qtype != T.CNAME:
            out = Answer(answer=[self._rrset(qname, T.CNAME, cnames[:1])])
            target = cast(CNAME, cnames[0]).target
            if self.owns(target) and depth < MAX_CHASE and target != qname:
                sub = self._answer(target, qtype, depth + 1)
                out.answer += sub.answer
                out.external += sub.external
                out.additional += sub.additional
            elif not self.owns(target):
                out.external.append(target)
            return out
        wanted = [(o, rd) for o, rd in records if qtype in (T.ANY, rd.rdtype)]
        if not wanted:
            return Answer(authority=[self.soa_rrset()])
        by_owner: dict[tuple[dns.name.Name, int], list[Rdata]] = {}
        for owner, rd in wanted:
            by_owner.setdefault((owner, rd.rdtype), []).append(rd)
        ans = Answer(answer=[self._rrset(o, t, rds) for (o, t), rds in by_owner.items()])
        if qtype in (T.SRV, T.NS):
            ans.additional = extra
        return ans

    def _lookup(self, qname: dns.name.Name, qtype: int) -> tuple[Records, list[dns.rrset.RRset]] | None:
        labels = [lb.decode("ascii", "replace").lower() for lb in qname.relativize(self.origin).labels]
        n = len(labels)
        if n == 0:
            ns_name = dns.name.from_text("ns.dns", self.origin)
            extra = [self._rrset(ns_name, T.A, [A(IN, T.A, self.dns_ip)])] if self.dns_ip else []
            return [(qname, self.soa()), (qname, NS(IN, T.NS, ns_name))], extra
        if labels[-1] == "svc":
            return self._svc(qname, labels[:-1], qtype)
        if labels[-1] == "pod":
            return self._pod(qname, labels[:-1])
        if labels == ["dns-version"]:
            return [(qname, TXT(IN, T.TXT, [DNS_SCHEMA_VERSION]))], []
        if labels == ["dns"]:
            return [], []
        if labels == ["ns", "dns"]:
            return ([(qname, A(IN, T.A, self.dns_ip))] if self.dns_ip else []), []
        return None

    def _pod(self, qname: dns.name.Name, labels: list[str]) -> tuple[Records, list[dns.rrset.RRset]] | None:
        if not labels:
            return [], []
        if not self.state.namespace_exists(labels[-1]):
            return None
        if len(labels) == 1:
            return [], []
        if len(labels) == 2:
            ip = _undash_v4(labels[0])
            return ([(qname, A(IN, T.A, ip))], []) if ip else None
        return None

    def _svc(self, qname: dns.name.Name, labels: list[str],
             qtype: int) -> tuple[Records, list[dns.rrset.RRset]] | None:
        if not labels:
            return [], []
        ns = labels[-1]
        if len(labels) == 1:
            return ([], []) if self.state.namespace_exists(ns) else None
        svc = self.state.service(ns, labels[-2])
        if svc is None:
            return None
        rest = labels[:-2]
        if not rest:
            return self._service_records(qname, svc, qtype)
        if len(rest) == 1 and not rest[0].startswith("_"):
            return self._endpoint_records(qname, svc, rest[0])
        if rest[-1].startswith("_") and len(rest) <= 2 and all(x.startswith("_") and len(x) > 1 for x in rest):
            proto = rest[-1][1:].upper()
            port = rest[0][1:] if len(rest) == 2 else None
            srv, extra = self._srv(svc, qname.parent().parent() if port is not None else qname.parent(),
                                   port, proto)
            if not srv:
                return None
            return ([(qname, rd) for rd in srv] if port is not None else []), extra
        return None

    # -- records for one service --------------------------------------------------------------

    def _service_records(self, qname: dns.name.Name, svc: Obj,
                         qtype: int) -> tuple[Records, list[dns.rrset.RRset]] | None:
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            target = (spec.get("externalName") or "").rstrip(".")
            if not target:
                return None
            return [(qname, CNAME(IN, T.CNAME, dns.name.from_text(target + ".")))], []
        records: Records = []
        if is_headless(svc):
            eps = self.state.endpoints(svc)
            if not eps:
                return None  # CoreDNS: a headless service without endpoints is NXDOMAIN
            records = [(qname, self._a(ep.ip)) for ep in eps]
        else:
            records = [(qname, self._a(ip)) for ip in service_ips(svc) if ":" not in ip]
        if qtype not in (T.SRV, T.ANY):  # the SRV set is only built when asked for
            return records, []
        srv, extra = self._srv(svc, qname, None, None)
        return records + [(qname, rd) for rd in srv], extra

    def _endpoint_records(self, qname: dns.name.Name, svc: Obj, label: str) -> tuple[Records, list[dns.rrset.RRset]] | None:
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            return None
        eps = [ep for ep in self.state.endpoints(svc) if endpoint_label(ep) == label]
        return ([(qname, A(IN, T.A, ep.ip)) for ep in eps], []) if eps else None

    def _srv(self, svc: Obj, svc_name: dns.name.Name, port: str | None,
             proto: str | None) -> tuple[list[Rdata], list[dns.rrset.RRset]]:
        """SRV rdatas for ports matching (port name, protocol); None matches any."""
        def match(name: str, protocol: str) -> bool:
            return (port is None or name == port) and (proto is None or protocol.upper() == proto)

        spec = svc.get("spec") or {}
        targets: list[tuple[int, dns.name.Name, str]] = []
        if spec.get("type") == "ExternalName":
            return [], []
        if is_headless(svc):
            eps: list[Endpoint] = self.state.endpoints(svc)
            for ep in eps:
                for name, protocol, number in ep.ports:
                    if match(name, protocol):
                        targets.append((number, dns.name.Name((endpoint_label(ep).encode(),) + svc_name.labels),
                                        ep.ip))
        else:
            ips = [ip for ip in service_ips(svc) if ":" not in ip]
            for p in spec.get("ports") or []:
                if match(p.get("name") or "", p.get("protocol") or "TCP") and p.get("port") is not None:
                    targets.append((int(p["port"]), svc_name, ips[0] if ips else ""))
        if not targets:
            return [], []
        weight = max(1, 100 // len(targets))
        rdatas: list[Rdata] = [SRV(IN, T.SRV, 0, weight, number, tgt) for number, tgt, _ in targets]
        addrs: dict[dns.name.Name, list[Rdata]] = {}
        for _, tgt, ip in targets:
            if ip and ip not in {cast(A, r).address for r in addrs.get(tgt, [])}:
                addrs.setdefault(tgt, []).append(A(IN, T.A, ip))
        return rdatas, [self._rrset(t, T.A, rds) for t, rds in addrs.items()]

    # -- PTR -------------------------------------------------------------------------------

    def ptr_names(self, ip: str) -> list[dns.name.Name]:
        st, names = self.state, []
        for svc in st.services_with_ip(ip):
            names.append(self._svc_name(svc))
        for svc, ep in st.endpoint_names_for_ip(ip):
            names.append(dns.name.Name((endpoint_label(ep).encode(),) + self._svc_name(svc).labels))
        if not names:
            for pod in st.pods_with_ip(ip):
                ns = (pod.get("metadata") or {}).get("namespace", "")
                names.append(dns.name.from_text(f"{dashed(ip)}.{ns}.pod", self.origin))
        return list(dict.fromkeys(names))

    def _svc_name(self, svc: Obj) -> dns.name.Name:
        md = svc.get("metadata") or {}
        return dns.name.from_text(f"{md.get('name', '')}.{md.get('namespace', '')}.svc", self.origin)

    # -- helpers ---------------------------------------------------------------------------

    def _a(self, ip: str) -> A:
        rd = self._a_rdata.get(ip)
        if rd is None:
            rd = self._a_rdata[ip] = A(IN, T.A, ip)
        return rd

    def soa(self) -> SOA:
        return SOA(IN, T.SOA, dns.name.from_text("ns.dns", self.origin),
                   dns.name.from_text("hostmaster", self.origin), self.state.serial % (1 << 32),
                   7200, 1800, 86400, self.ttl)

    def soa_rrset(self) -> dns.rrset.RRset:
        return self._rrset(self.origin, T.SOA, [self.soa()])

    def _rrset(self, name: dns.name.Name, rdtype: int, rdatas: list[Rdata]) -> dns.rrset.RRset:
        rrs = dns.rrset.RRset(name, IN, T.RdataType(rdtype))
        for rd in rdatas:
            rrs.add(rd, self.ttl)
        return rrs


def _undash_v4(label: str) -> str:
    parts = label.split("-")
    if len(parts) != 4:
        return ""
    try:
        return str(ipaddress.IPv4Address(".".join(parts)))
    except ValueError:
        return ""


def _reverse_ip(qname: dns.name.Name) -> str:
    labels = qname.relativize(REVERSE_V4).labels
    if len(labels) != 4:
        return ""
    try:
        return str(ipaddress.IPv4Address(".".join(lb.decode() for lb in reversed(labels))))
    except (ValueError, UnicodeDecodeError):
        return ""
