"""networking.k8s.io/v1 Ingress and IngressClass: upstream 1.32 defaults and validation.

Ingress controllers trust what the API accepted: every path has a pathType, Exact/Prefix paths
are absolute and free of traversal sequences, every backend names a Service port (by number
or IANA name) or a typed resource, hosts are DNS names (one leading `*.` allowed), not IPs.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required, too_long
from ..strategy import Strategy, register
from ..validation import is_dns1035_label, is_dns1123_subdomain, is_path_segment_name
from .apps_common import immutable
from .core_common import as_dict, as_list, port_name_errors, port_num_errors

Obj = dict[str, Any]
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MAX_CONTROLLER_LEN = 250
_DP_PATH = re.compile(r"^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")
_WILDCARD = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
             "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
             "(e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?"
             "(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def validate_host(host: Any, path: str) -> list[FieldError]:
    h = str(host)
    if _is_ip(h):
        return [invalid(path, h, "must be a DNS name, not an IP address")]
    if "*" in h:
        if not h.startswith("*.") or is_dns1123_subdomain(h[2:]):
            return [invalid(path, h, _WILDCARD)]
        return []
    return [invalid(path, h, m) for m in is_dns1123_subdomain(h)]


def _validate_typed_ref(ref: Any, path: str) -> list[FieldError]:
    ref = as_dict(ref)
    errs: list[FieldError] = []
    if ref.get("apiGroup"):
        errs += [invalid(f"{path}.apiGroup", ref["apiGroup"], m) for m in is_dns1123_subdomain(str(ref["apiGroup"]))]
    for f in ("kind", "name"):
        v = ref.get(f)
        if not v:
            errs.append(required(f"{path}.{f}"))
        else:
            errs += [invalid(f"{path}.{f}", v, m) for m in is_path_segment_name(str(v))]
    return errs


def validate_backend(backend: Any, path: str) -> list[FieldError]:
    b = as_dict(backend)
    res, svc = b.get("resource"), b.get("service")
    if res is not None and svc is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if res is not None:
        return _validate_typed_ref(res, f"{path}.resource")
    if svc is None:
        return [invalid(path, "", "resource or service backend is required")]
    svc = as_dict(svc)
    errs: list[FieldError] = []
    name = svc.get("name") or ""
    if not name:
        errs.append(required(f"{path}.service.name"))
    else:
        errs += [invalid(f"{path}.service.name", name, m) for m in is_dns1035_label(str(name))]
    port = as_dict(svc.get("port"))
    pname, pnum = port.get("name") or "", port.get("number") or 0
    if pname and pnum:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif pname:
        errs += [invalid(f"{path}.service.port.name", pname, m) for m in port_name_errors(str(pname))]
    elif pnum:
        errs += [invalid(f"{path}.service.port.number", pnum, m) for m in port_num_errors(pnum)]
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _validate_http_path(hp: Any, path: str) -> list[FieldError]:
    hp = as_dict(hp)
    pt, p = hp.get("pathType"), hp.get("path") or ""
    if pt is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    errs: list[FieldError] = []
    if pt in ("Exact", "Prefix"):
        if not p.startswith("/"):
            errs.append(invalid(f"{path}.path", p, "must be an absolute path"))
        if p:
            errs += [invalid(f"{path}.path", p, f"must not contain '{s}'") for s in INVALID_PATH_SEQUENCES if s in p]
            errs += [invalid(f"{path}.path", p, f"cannot end with '{s}'") for s in INVALID_PATH_SUFFIXES
                     if p.endswith(s)]
    elif pt == "ImplementationSpecific":
        if p and not p.startswith("/"):
            errs.append(invalid(f"{path}.path", p, "must be an absolute path"))
    else:
        errs.append(not_supported(f"{path}.pathType", pt, PATH_TYPES))
    return errs + validate_backend(hp.get("backend"), f"{path}.backend")


def validate_ingress_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    rules = spec.get("rules")
    if not rules and spec.get("defaultBackend") is None:
        errs.append(invalid("spec", rules, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs += validate_backend(spec["defaultBackend"], "spec.defaultBackend")
    for i, rule in enumerate(as_list(rules)):
        rule = as_dict(rule)
        rp = f"spec.rules[{i}]"
        if rule.get("host"):
            errs += validate_host(rule["host"], f"{rp}.host")
        http = rule.get("http")
        if http is not None:
            paths = as_list(as_dict(http).get("paths"))
            if not paths:
                errs.append(required(f"{rp}.http.paths"))
            for j, hp in enumerate(paths):
                errs += _validate_http_path(hp, f"{rp}.http.paths[{j}]")
    for i, tls in enumerate(as_list(spec.get("tls"))):
        tls = as_dict(tls)
        for j, h in enumerate(as_list(tls.get("hosts"))):
            errs += validate_host(h, f"spec.tls[{i}].hosts[{j}]")
        secret = tls.get("secretName")
        if secret:
            errs += [invalid(f"spec.tls[{i}].secretName", secret, m) for m in is_dns1123_subdomain(str(secret))]
    icn = spec.get("ingressClassName")
    if icn is not None:
        errs += [invalid("spec.ingressClassName", icn, m) for m in is_dns1123_subdomain(str(icn))]
    return errs


class IngressStrategy(Strategy):
    group, kind, has_status = "networking.k8s.io", "Ingress", True

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = super().validate(obj) + validate_ingress_spec(spec)
        annotation = as_dict(as_dict(obj.get("metadata")).get("annotations")).get(INGRESS_CLASS_ANNOTATION)
        icn = spec.get("ingressClassName")
        if annotation is not None and icn is not None and annotation != icn:
            errs.append(invalid(f"annotations.{INGRESS_CLASS_ANNOTATION}", annotation,
                                "must match `ingressClassName` when both are specified"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        lb = as_dict(as_dict(new.get("status")).get("loadBalancer"))
        for i, ing in enumerate(as_list(lb.get("ingress"))):
            ing = as_dict(ing)
            p = f"status.loadBalancer.ingress[{i}]"
            if ing.get("ip") and not _is_ip(str(ing["ip"])):
                errs.append(invalid(f"{p}.ip", ing["ip"], "must be a valid IP address"))
            if ing.get("hostname"):
                h = str(ing["hostname"])
                errs += [invalid(f"{p}.hostname", h, m) for m in is_dns1123_subdomain(h)]
                if _is_ip(h):
                    errs.append(invalid(f"{p}.hostname", h, "must be a DNS name, not an IP address"))
        return errs


def _validate_domain_prefixed_path(value: Any, path: str) -> list[FieldError]:
    v = str(value or "")
    if not v:
        return [required(path)]
    host, _, rest = v.partition("/")
    if not host or not rest:
        return [invalid(path, v, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [invalid(path, host, m) for m in is_dns1123_subdomain(host)]
    if not _DP_PATH.match(rest):
        errs.append(invalid(path, rest, "Invalid path: must only contain alphanumeric characters and "
                                        "'/-._~%!$&'()*+,;=:'"))
    return errs


class IngressClassStrategy(Strategy):
    group, kind, namespaced = "networking.k8s.io", "IngressClass", False

    def default(self, obj: Obj) -> None:
        params = as_dict(obj.get("spec")).get("parameters")
        if isinstance(params, dict) and not params.get("scope"):
            params["scope"] = "Cluster"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        ctrl = spec.get("controller") or ""
        if len(str(ctrl)) > MAX_CONTROLLER_LEN:
            errs.append(too_long("spec.controller", MAX_CONTROLLER_LEN))
        errs += _validate_domain_prefixed_path(ctrl, "spec.controller")
        params = spec.get("parameters")
        if isinstance(params, dict):
            p = "spec.parameters"
            errs += _validate_typed_ref(params, p)
            scope, ns = params.get("scope"), params.get("namespace")
            if scope == "Namespace" and not ns:
                errs.append(required(f"{p}.namespace", "`parameters.scope` is set to 'Namespace'"))
            elif scope == "Cluster" and ns:
                errs.append(forbidden(f"{p}.namespace", "`parameters.scope` is set to 'Cluster'"))
            elif scope not in ("Namespace", "Cluster"):
                errs.append(not_supported(f"{p}.scope", scope or "", ["Cluster", "Namespace"]))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return super().validate_update(new, old) + immutable(
            as_dict(new.get("spec")).get("controller"), as_dict(old.get("spec")).get("controller"), "spec.controller")


register(IngressStrategy())
register(IngressClassStrategy())
