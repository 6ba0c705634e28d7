"""PodSpec and PodTemplateSpec: defaults and validation shared by Pods and every workload.

Upstream splits defaults between `SetDefaults_PodSpec` (which templates get too: restart and
DNS policy, grace period, scheduler name, an empty securityContext, container/volume
defaults) and `SetDefaults_Pod` (Pods only: `enableServiceLinks`, requests copied from
limits, host ports under hostNetwork). Keeping that split matters: a Deployment's template read
back with kubectl must not grow Pod-only fields.

Public helpers (used by the workload kinds):
    default_pod_spec(spec)                    validate_pod_spec(spec, path) -> [FieldError]
    default_pod_template(template)            validate_pod_template(template, path) -> [FieldError]
    default_pod(pod)                          pod_qos_class(spec) -> str
"""

from __future__ import annotations

import ipaddress
from typing import Any, TypeGuard

from ..errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from ..quantity import quantity
from ..validation import is_label_value, is_qualified_name, validate_annotations, validate_labels
from .core_common import (
    INT32_MAX,
    as_dict,
    as_list,
    is_int,
    validate_dns_label,
    validate_dns_subdomain,
    validate_enum,
    validate_nonnegative,
)
from .core_container import default_container, validate_container_list
from .core_volumes import default_volume, validate_volumes

Obj = dict[str, Any]

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
OS_NAMES = ["linux", "windows"]


# ---- defaults ------------------------------------------------------------------------------

def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec plus the defaults of everything a PodSpec contains (in place)."""
    if not isinstance(spec, dict):
        return
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in as_list(spec.get(key)):
            default_container(c)
    for v in as_list(spec.get("volumes")):
        default_volume(v)


def default_pod_template(template: Obj) -> None:
    """Defaults of a PodTemplateSpec (workload templates, PodTemplate objects)."""
    if not isinstance(template, dict):
        return
    spec = template.get("spec")
    if not isinstance(spec, dict):
        spec = template["spec"] = {}
    default_pod_spec(spec)


def default_pod(pod: Obj) -> None:
    """All defaults of a Pod object: the PodSpec ones and the Pod-only ones."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    default_pod_spec(spec)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    host_net = bool(spec.get("hostNetwork"))
    for key in ("containers", "initContainers"):
        for c in as_list(spec.get(key)):
            default_container(c, for_pod=True)
            if host_net:
                for port in as_list(as_dict(c).get("ports")):
                    if isinstance(port, dict) and not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]


# ---- validation ----------------------------------------------------------------------------

def validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """A PodTemplateSpec inside a workload (`spec.template`): labels/annotations + spec."""
    if template is None:
        return [required(path)]
    if not isinstance(template, dict):
        return [invalid(path, template, "must be an object")]
    meta = as_dict(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations")
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return errs + [required(f"{path}.spec")]
    errs += validate_pod_spec(spec, f"{path}.spec")
    if spec.get("ephemeralContainers"):
        errs.append(forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    return errs


def validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    """upstream ValidatePodSpec: every error found, not just the first."""
    if not isinstance(spec, dict):
        return [invalid(path, spec, "must be an object")] if spec is not None else [required(path)]
    errs: list[FieldError] = []
    volumes, verrs = validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errs += verrs
    grace = spec.get("terminationGracePeriodSeconds")
    grace_i = grace if is_int(grace) else None
    names: set[str] = set()
    containers = spec.get("containers")
    if not containers:
        errs.append(required(f"{path}.containers"))
    errs += validate_container_list(spec.get("initContainers"), f"{path}.initContainers", volumes, names,
                                    "initContainers", grace_i)
    errs += validate_container_list(containers, f"{path}.containers", volumes, names, "containers", grace_i)
    errs += validate_container_list(spec.get("ephemeralContainers"), f"{path}.ephemeralContainers", volumes,
                                    names, "ephemeralContainers", grace_i)
    errs += _validate_host_ports(spec, path)
    errs += validate_enum(spec.get("restartPolicy"), f"{path}.restartPolicy", RESTART_POLICIES)
    errs += validate_enum(spec.get("dnsPolicy"), f"{path}.dnsPolicy", DNS_POLICIES)
    if spec.get("dnsPolicy") == "None" and not spec.get("dnsConfig"):
        errs.append(required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
    errs += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for f in ("serviceAccountName", "nodeName", "schedulerName", "priorityClassName"):
        if spec.get(f):
            errs += validate_dns_subdomain(spec[f], f"{path}.{f}")
    for f in ("hostname", "subdomain"):
        if spec.get(f):
            errs += validate_dns_label(spec[f], f"{path}.{f}")
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not is_int(ads) or not 1 <= ads <= INT32_MAX):
        errs.append(invalid(f"{path}.activeDeadlineSeconds", ads, f"must be between 1 and {INT32_MAX}, inclusive"))
    if grace is not None and not is_int(grace):
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be an integer"))
    errs += validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    errs += _validate_host_aliases(spec.get("hostAliases"), f"{path}.hostAliases")
    errs += _validate_security_context(spec.get("securityContext"), f"{path}.securityContext")
    os_name = as_dict(spec.get("os")).get("name")
    if spec.get("os") is not None:
        errs += validate_enum(os_name, f"{path}.os.name", OS_NAMES)
    for i, g in enumerate(as_list(spec.get("schedulingGates"))):
        gname = as_dict(g).get("name")
        if not gname:
            errs.append(required(f"{path}.schedulingGates[{i}].name"))
        else:
            errs += [invalid(f"{path}.schedulingGates[{i}].name", gname, m) for m in is_qualified_name(str(gname))]
    for f, v in as_dict(spec.get("overhead")).items():
        try:
            if quantity(v).sign() < 0:
                errs.append(invalid(f"{path}.overhead[{f}]", v, "must be greater than or equal to 0"))
        except ValueError as e:
            errs.append(invalid(f"{path}.overhead[{f}]", v, str(e)))
    return errs


def _validate_host_ports(spec: Obj, path: str) -> list[FieldError]:
    """Host ports unique per protocol across the pod; under hostNetwork hostPort == containerPort."""
    errs: list[FieldError] = []
    seen: set[str] = set()
    host_net = bool(spec.get("hostNetwork"))
    for key in ("initContainers", "containers"):
        for i, c in enumerate(as_list(spec.get(key))):
            for j, port in enumerate(as_list(as_dict(c).get("ports"))):
                port = as_dict(port)
                p = f"{path}.{key}[{i}].ports[{j}]"
                hp = port.get("hostPort")
                if host_net and hp and hp != port.get("containerPort"):
                    errs.append(invalid(f"{p}.hostPort", hp, "must match `containerPort` when `hostNetwork` is true"))
                if not hp:
                    continue
                ident = f"{port.get('hostIP', '')}/{hp}/{port.get('protocol') or 'TCP'}"
                if ident in seen:
                    errs.append(duplicate(f"{p}", f"{hp}/{port.get('protocol') or 'TCP'}"))
                seen.add(ident)
    return errs


def validate_tolerations(tols: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, t in enumerate(as_list(tols)):
        p = f"{path}[{i}]"
        t = as_dict(t)
        key, op = t.get("key") or "", t.get("operator") or ""
        if key:
            errs += [invalid(f"{p}.key", key, m) for m in is_qualified_name(str(key))]
        if not key and op != "Exists":
            errs.append(invalid(f"{p}.operator", op, "operator must be Exists when `key` is empty, which means "
                                '"match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
            errs.append(invalid(f"{p}.effect", t.get("effect") or "",
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = t.get("value") or ""
        if op in ("Equal", ""):
            msgs = is_label_value(str(value))
            if msgs:
                errs.append(invalid(f"{p}.operator", value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(f"{p}.operator", t, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(f"{p}.operator", op, ["Equal", "Exists"]))
        if t.get("effect"):
            errs += validate_enum(t["effect"], f"{p}.effect", TAINT_EFFECTS)
    return errs


def _validate_host_aliases(aliases: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, a in enumerate(as_list(aliases)):
        a = as_dict(a)
        ip = a.get("ip")
        if not ip:
            errs.append(required(f"{path}[{i}].ip"))
        elif not is_ip(ip):
            errs.append(invalid(f"{path}[{i}].ip", ip, "must be a valid IP address"))
        for j, h in enumerate(as_list(a.get("hostnames"))):
            errs += validate_dns_subdomain(h, f"{path}[{i}].hostnames[{j}]")
    return errs


def _validate_security_context(sc: Any, path: str) -> list[FieldError]:
    sc = as_dict(sc)
    errs: list[FieldError] = []
    for f in ("runAsUser", "runAsGroup", "fsGroup"):
        errs += validate_nonnegative(sc.get(f), f"{path}.{f}")
    for i, g in enumerate(as_list(sc.get("supplementalGroups"))):
        errs += validate_nonnegative(g, f"{path}.supplementalGroups[{i}]")
    return errs


def is_ip(value: Any) -> TypeGuard[str]:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def pod_qos_class(spec: Obj) -> str:
    """upstream GetPodQOS: Guaranteed / Burstable / BestEffort from cpu+memory requests/limits."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for c in as_list(spec.get("containers")) + as_list(spec.get("initContainers")):
        res = as_dict(as_dict(c).get("resources"))
        for name, raw in as_dict(res.get("requests")).items():
            if name in ("cpu", "memory"):
                q = _q(raw)
                if q is not None and q.sign() > 0:
                    requests[name] = requests[name] + q if name in requests else q
        found = set()
        for name, raw in as_dict(res.get("limits")).items():
            if name in ("cpu", "memory"):
                q = _q(raw)
                if q is not None and q.sign() > 0:
                    found.add(name)
                    limits[name] = limits[name] + q if name in limits else q
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed:
        for name, req in requests.items():
            if name not in limits or limits[name] != req:
                guaranteed = False
                break
    if guaranteed and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def _q(raw: Any) -> Any:
    try:
        return quantity(raw)
    except ValueError:
        return None
