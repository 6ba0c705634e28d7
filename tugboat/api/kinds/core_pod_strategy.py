"""The Pod, PodTemplate and Binding strategies (upstream `pkg/registry/core/pod/strategy.go`).

A pod is mostly immutable once created: the node agent has already started what the spec
says, so upstream allows only the changes a running pod can honour (images, a shorter
deadline, extra tolerations, removed scheduling gates) and refuses the rest with one message
listing what may change. The phase and QoS class are set by the server on create.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..strategy import Obj, Strategy, register
from .core_common import INT32_MAX, as_dict, as_list, is_int
from .core_pod import (
    default_pod,
    default_pod_template,
    is_ip,
    pod_qos_class,
    validate_pod_spec,
    validate_pod_template,
)

POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _copy(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodStrategy(Strategy):
    kind = "Pod"
    has_status = True
    selectable_fields = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                         "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            tg = spec.get("terminationGracePeriodSeconds")
            if is_int(tg) and tg < 0:
                spec["terminationGracePeriodSeconds"] = 1  # upstream: negative means "1"
        # Defaults run here too so the QoS class sees requests defaulted from limits, as
        # upstream (which defaults while decoding, before PrepareForCreate) does.
        default_pod(obj)
        spec = as_dict(obj.get("spec"))
        status: Obj = {"phase": "Pending", "qosClass": pod_qos_class(spec)}
        if spec.get("schedulingGates"):
            status["conditions"] = [{
                "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": None,
                "lastTransitionTime": as_dict(obj.get("metadata")).get("creationTimestamp") or _now(),
            }]
        obj["status"] = status

    def default(self, obj: Obj) -> None:
        default_pod(obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        errs += validate_pod_spec(spec, "spec")
        if isinstance(spec, dict) and spec.get("ephemeralContainers"):
            errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        errs += validate_pod_spec_update(as_dict(new.get("spec")), as_dict(old.get("spec")))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        status = as_dict(new.get("status"))
        nominated = status.get("nominatedNodeName")
        if nominated:
            from .core_common import validate_dns_subdomain

            errs += validate_dns_subdomain(nominated, "status.nominatedNodeName")
        for f in ("hostIP", "podIP"):
            if status.get(f) and not is_ip(status[f]):
                errs.append(invalid(f"status.{f}", status[f], "must be a valid IP address"))
        for f in ("podIPs", "hostIPs"):
            ips = as_list(status.get(f))
            if len(ips) > 2:
                errs.append(invalid(f"status.{f}", ips, "may specify no more than one IP for each IP family"))
            for i, ip in enumerate(ips):
                v = as_dict(ip).get("ip")
                if not is_ip(v):
                    errs.append(invalid(f"status.{f}[{i}].ip", v, "must be a valid IP address"))
        return errs

    def field_values(self, obj: Obj) -> dict[str, str]:
        out = super().field_values(obj)
        spec = as_dict(obj.get("spec"))
        status = as_dict(obj.get("status"))
        out["spec.hostNetwork"] = "true" if spec.get("hostNetwork") else "false"
        ips = as_list(status.get("podIPs"))
        out["status.podIP"] = str(as_dict(ips[0]).get("ip") or "") if ips else ""
        return out


def validate_pod_spec_update(new: Obj, old: Obj) -> list[FieldError]:
    """upstream ValidatePodUpdate's spec rules."""
    errs: list[FieldError] = []
    for key in ("containers", "initContainers"):
        if len(as_list(new.get(key))) != len(as_list(old.get(key))):
            errs.append(forbidden(f"spec.{key}", "pod updates may not add or remove containers"))
    if errs:
        return errs
    ads, old_ads = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if ads is not None:
        if not is_int(ads) or not 0 <= ads <= INT32_MAX:
            errs.append(invalid("spec.activeDeadlineSeconds", ads, f"must be between 0 and {INT32_MAX}, inclusive"))
        elif is_int(old_ads) and old_ads < ads:
            errs.append(invalid("spec.activeDeadlineSeconds", ads, "must be less than or equal to previous value"))
    elif old_ads is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))

    munged = _copy(new)
    for key in ("containers", "initContainers"):
        for c, oc in zip(as_list(munged.get(key)), as_list(old.get(key)), strict=False):
            if isinstance(c, dict) and isinstance(oc, dict):
                if "image" in oc:
                    c["image"] = oc["image"]
                else:
                    c.pop("image", None)
    _set_like(munged, old, "activeDeadlineSeconds")
    _set_like(munged, old, "ephemeralContainers")  # changed only through /ephemeralcontainers
    tg, old_tg = munged.get("terminationGracePeriodSeconds"), old.get("terminationGracePeriodSeconds")
    if is_int(old_tg) and old_tg < 0 and tg == 1:
        munged["terminationGracePeriodSeconds"] = old_tg
    tol_errs = _tolerations_update(as_list(new.get("tolerations")), as_list(old.get("tolerations")))
    if not tol_errs:
        _set_like(munged, old, "tolerations")
    errs += tol_errs
    gates, old_gates = as_list(new.get("schedulingGates")), as_list(old.get("schedulingGates"))
    if old_gates and all(g in old_gates for g in gates):
        _set_like(munged, old, "schedulingGates")
    elif gates and gates != old_gates:
        errs.append(forbidden("spec.schedulingGates", "only deletion is allowed, but found new scheduling gate"))
        _set_like(munged, old, "schedulingGates")
    if munged != old:
        changed = sorted(k for k in set(munged) | set(old) if munged.get(k) != old.get(k))
        detail = "\n" + "\n".join(f"  spec.{k}: changed" for k in changed)
        errs.append(forbidden("spec", POD_UPDATE_MESSAGE + detail))
    return errs


def _set_like(target: Obj, source: Obj, key: str) -> None:
    if key in source:
        target[key] = _copy(source[key])
    else:
        target.pop(key, None)


def _tolerations_update(new: list[Any], old: list[Any]) -> list[FieldError]:
    """Existing tolerations stay (only tolerationSeconds may change); new ones may be added."""
    def ident(t: Any) -> Any:
        t = as_dict(t)
        return (t.get("key") or "", t.get("operator") or "Equal", t.get("value") or "", t.get("effect") or "")

    remaining = [ident(t) for t in new]
    for t in old:
        i = ident(t)
        if i in remaining:
            remaining.remove(i)
        else:
            return [forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")]
    return []


class PodTemplateStrategy(Strategy):
    kind = "PodTemplate"

    def default(self, obj: Obj) -> None:
        if isinstance(obj.get("template"), dict):
            default_pod_template(obj["template"])

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + validate_pod_template(obj.get("template"), "template")


class BindingStrategy(Strategy):
    """pods/binding (and the legacy `bindings` resource): create-only; the API server applies
    the target to the pod."""

    kind = "Binding"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        target = as_dict(obj.get("target"))
        if not target.get("name"):
            errs.append(required("target.name"))
        if target.get("kind") not in (None, "", "Node"):
            errs.append(not_supported("target.kind", target.get("kind"), ["Node", "<empty>"]))
        return errs


register(PodStrategy())
register(PodTemplateStrategy())
register(BindingStrategy())
