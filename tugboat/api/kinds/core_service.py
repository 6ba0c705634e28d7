"""Service and Endpoints strategies (upstream `pkg/registry/core/service`, `endpoint`).

Defaults make a bare `{ports: [{port: 80}]}` Service a complete ClusterIP service (TCP,
targetPort = port, no session affinity, cluster traffic policies, single-stack IPv4).
Cluster IPs and node ports are *allocated* by the API server, not here; this module only
validates them and keeps them stable across updates (a client that re-applies a manifest
without `clusterIP` keeps the allocated one, as upstream does).
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, duplicate, forbidden, invalid, required
from ..strategy import Obj, Strategy, register
from ..validation import validate_labels
from .core_common import (
    as_dict,
    as_list,
    port_num_errors,
    validate_dns_label,
    validate_dns_subdomain,
    validate_enum,
    validate_port_num_or_name,
)
from .core_pod import is_ip

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
AFFINITIES = ["ClientIP", "None"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
IP_FAMILY_POLICIES = ["SingleStack", "PreferDualStack", "RequireDualStack"]
IP_FAMILIES = ["IPv4", "IPv6"]
CLIENT_IP_TIMEOUT = 10800


def externally_accessible(spec: Obj) -> bool:
    t = spec.get("type")
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP" and bool(spec.get("externalIPs")))


def default_service_spec(spec: Obj) -> None:
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = as_dict(as_dict(spec.get("sessionAffinityConfig")).get("clientIP"))
        if cfg.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": CLIENT_IP_TIMEOUT}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in as_list(spec.get("ports")):
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
            port["targetPort"] = port["port"]
    if externally_accessible(spec) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] != "ExternalName":
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if spec["type"] != "ExternalName":
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]


class ServiceStrategy(Strategy):
    kind = "Service"
    has_status = True
    name_validator = "dns1035"

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_service_spec(spec)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        spec, old_spec = new.get("spec"), as_dict(old.get("spec"))
        if not isinstance(spec, dict) or "ExternalName" in (spec.get("type"), old_spec.get("type")):
            return
        # Keep allocated values a client left out (upstream patchAllocatedValues).
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
            if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
                spec["clusterIPs"] = list(old_spec["clusterIPs"])
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {(p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
                         for p in map(as_dict, as_list(old_spec.get("ports")))}
            for p in as_list(spec.get("ports")):
                if isinstance(p, dict) and not p.get("nodePort"):
                    np = old_ports.get((p.get("port"), p.get("protocol") or "TCP"))
                    if np:
                        p["nodePort"] = np
            if (spec.get("externalTrafficPolicy") == "Local" and not spec.get("healthCheckNodePort")
                    and old_spec.get("healthCheckNodePort")):
                spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs + [required("spec")]
        return errs + validate_service_spec(spec)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if "ExternalName" in (spec.get("type"), old_spec.get("type")):
            return errs
        old_ips = as_list(old_spec.get("clusterIPs")) or ([old_spec["clusterIP"]] if old_spec.get("clusterIP") else [])
        new_ips = as_list(spec.get("clusterIPs")) or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        if old_ips and not new_ips:
            errs.append(invalid("spec.clusterIPs[0]", new_ips, "primary clusterIP can not be unset"))
        for i, ip in enumerate(old_ips):
            if i < len(new_ips) and new_ips[i] != ip:
                errs.append(invalid(f"spec.clusterIPs[{i}]", new_ips, "may not change once set"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, ing in enumerate(as_list(as_dict(as_dict(new.get("status")).get("loadBalancer")).get("ingress"))):
            ip = as_dict(ing).get("ip")
            if ip and not is_ip(ip):
                errs.append(invalid(f"status.loadBalancer.ingress[{i}].ip", ip, "must be a valid IP address"))
        return errs


def validate_service_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    stype = spec.get("type")
    errs += validate_enum(stype, "spec.type", SERVICE_TYPES)
    cluster_ip = spec.get("clusterIP") or ""
    headless = cluster_ip == "None"
    ports = as_list(spec.get("ports"))
    if not ports and not headless and stype != "ExternalName":
        errs.append(required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        port = as_dict(port)
        name = port.get("name")
        if len(ports) > 1 and not name:
            errs.append(required(f"{p}.name"))
        elif name:
            errs += validate_dns_label(name, f"{p}.name")
            if name in names:
                errs.append(duplicate(f"{p}.name", name))
            names.add(name)
        errs += [invalid(f"{p}.port", port.get("port"), m) for m in port_num_errors(port.get("port"))]
        errs += validate_enum(port.get("protocol"), f"{p}.protocol", PROTOCOLS)
        if port.get("targetPort") is not None:
            errs += validate_port_num_or_name(port["targetPort"], f"{p}.targetPort")
        np = port.get("nodePort")
        if np:
            if stype == "ClusterIP":
                errs.append(forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
            errs += [invalid(f"{p}.nodePort", np, m) for m in port_num_errors(np)]
        key = (port.get("port"), port.get("protocol"))
        if key in seen:
            errs.append(duplicate(p, port))
        seen.add(key)
    if stype == "ExternalName":
        ext = spec.get("externalName")
        if not ext:
            errs.append(required("spec.externalName"))
        else:
            errs += validate_dns_subdomain(str(ext).rstrip("."), "spec.externalName")
        if cluster_ip or spec.get("clusterIPs"):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    else:
        errs += _validate_cluster_ips(spec, stype)
        errs += validate_enum(spec.get("internalTrafficPolicy"), "spec.internalTrafficPolicy", TRAFFIC_POLICIES)
        if spec.get("ipFamilyPolicy") is not None:
            errs += validate_enum(spec["ipFamilyPolicy"], "spec.ipFamilyPolicy", IP_FAMILY_POLICIES)
        for i, fam in enumerate(as_list(spec.get("ipFamilies"))):
            errs += validate_enum(fam, f"spec.ipFamilies[{i}]", IP_FAMILIES)
    errs += validate_enum(spec.get("sessionAffinity"), "spec.sessionAffinity", AFFINITIES)
    if spec.get("sessionAffinity") == "ClientIP":
        timeout = as_dict(as_dict(spec.get("sessionAffinityConfig")).get("clientIP")).get("timeoutSeconds")
        if not isinstance(timeout, int) or not 0 < timeout <= 86400:
            errs.append(invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                                "must be greater than 0 and less than 86400"))
    elif spec.get("sessionAffinityConfig"):
        errs.append(invalid("spec.sessionAffinityConfig", spec["sessionAffinityConfig"],
                            "must not be set when session affinity is None"))
    etp = spec.get("externalTrafficPolicy")
    if etp:
        if not externally_accessible(spec):
            errs.append(invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
        else:
            errs += validate_enum(etp, "spec.externalTrafficPolicy", TRAFFIC_POLICIES)
    elif externally_accessible(spec):
        errs.append(required("spec.externalTrafficPolicy"))
    if spec.get("healthCheckNodePort") and not (stype == "LoadBalancer" and etp == "Local"):
        errs.append(invalid("spec.healthCheckNodePort", spec["healthCheckNodePort"],
                            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    if stype != "ExternalName":
        errs += validate_labels(spec.get("selector"), "spec.selector")
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        if not is_ip(ip):
            errs.append(invalid(f"spec.externalIPs[{i}]", ip, "must be a valid IP address"))
    if spec.get("loadBalancerSourceRanges") and stype != "LoadBalancer":
        errs.append(forbidden("spec.loadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))
    return errs


def _validate_cluster_ips(spec: Obj, stype: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    cluster_ip = spec.get("clusterIP") or ""
    ips = as_list(spec.get("clusterIPs"))
    if cluster_ip and ips and ips[0] != cluster_ip:
        errs.append(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    if len(ips) > 2:
        errs.append(invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    for i, ip in enumerate(ips or ([cluster_ip] if cluster_ip else [])):
        if ip == "None":
            if i > 0 or len(ips) > 1:
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip, "'None' must be the first and only value"))
            elif stype in ("NodePort", "LoadBalancer"):
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip, f"may not be set to 'None' for {stype} services"))
        elif not is_ip(ip):
            errs.append(invalid(f"spec.clusterIPs[{i}]", ip, "must be empty, 'None', or a valid IP address"))
    return errs


class EndpointsStrategy(Strategy):
    kind = "Endpoints"

    def default(self, obj: Obj) -> None:
        for ss in as_list(obj.get("subsets")):
            for port in as_list(as_dict(ss).get("ports")):
                if isinstance(port, dict) and not port.get("protocol"):
                    port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        for i, ss in enumerate(as_list(obj.get("subsets"))):
            p = f"subsets[{i}]"
            ss = as_dict(ss)
            if not ss.get("addresses") and not ss.get("notReadyAddresses"):
                errs.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
            for key in ("addresses", "notReadyAddresses"):
                for j, addr in enumerate(as_list(ss.get(key))):
                    errs += validate_endpoint_address(as_dict(addr), f"{p}.{key}[{j}]")
            ports = as_list(ss.get("ports"))
            for j, port in enumerate(ports):
                pp = f"{p}.ports[{j}]"
                port = as_dict(port)
                if len(ports) > 1 and not port.get("name"):
                    errs.append(required(f"{pp}.name"))
                elif port.get("name"):
                    errs += validate_dns_label(port["name"], f"{pp}.name")
                errs += [invalid(f"{pp}.port", port.get("port"), m) for m in port_num_errors(port.get("port"))]
                errs += validate_enum(port.get("protocol"), f"{pp}.protocol", PROTOCOLS)
        return errs


def validate_endpoint_address(addr: Obj, path: str) -> list[FieldError]:
    import ipaddress

    errs: list[FieldError] = []
    ip = addr.get("ip")
    if not is_ip(ip):
        errs.append(invalid(f"{path}.ip", ip, "must be a valid IP address"))
    else:
        a = ipaddress.ip_address(ip)
        if a.is_unspecified:
            errs.append(invalid(f"{path}.ip", ip, "may not be unspecified (0.0.0.0)"))
        if a.is_loopback:
            errs.append(invalid(f"{path}.ip", ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
        if a.is_link_local:
            errs.append(invalid(f"{path}.ip", ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if addr.get("hostname"):
        errs += validate_dns_label(addr["hostname"], f"{path}.hostname")
    if addr.get("nodeName"):
        errs += validate_dns_subdomain(addr["nodeName"], f"{path}.nodeName")
    return errs


register(ServiceStrategy())
register(EndpointsStrategy())
