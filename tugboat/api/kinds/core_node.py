"""Node and (core/v1) Event strategies.

A Node is registered by its agent with status included (upstream lets node create set status),
and once the pod CIDR or provider ID is set it stays: the network plugin and the cloud
controller have built state around it. Events are free-form records; the checks are the
legacy core/v1 ones, plus the field selectors `kubectl get events --field-selector` uses.
"""

from __future__ import annotations

import ipaddress

from ..errors import FieldError, duplicate, forbidden, invalid, required
from ..strategy import Obj, Strategy, register
from ..validation import is_dns1123_subdomain, is_qualified_name
from .core_common import as_dict, as_list, validate_enum, validate_resource_list

TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


class NodeStrategy(Strategy):
    kind = "Node"
    namespaced = False
    has_status = True
    selectable_fields = ("spec.unschedulable",)

    def prepare_for_create(self, obj: Obj) -> None:
        """Nodes may set status on create (the agent registers with its capacity)."""

    def default(self, obj: Obj) -> None:
        status = obj.get("status")
        if isinstance(status, dict) and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
            status["allocatable"] = dict(status["capacity"])

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        cidrs = as_list(spec.get("podCIDRs"))
        if spec.get("podCIDR") and not cidrs:
            cidrs = [spec["podCIDR"]]
        for i, c in enumerate(cidrs):
            try:
                ipaddress.ip_network(c, strict=False)
            except (ValueError, TypeError):
                errs.append(invalid(f"spec.podCIDRs[{i}]", c, "must be a valid CIDR"))
        if len(cidrs) > 2:
            errs.append(invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family"))
        if spec.get("podCIDR") and cidrs and cidrs[0] != spec["podCIDR"]:
            errs.append(invalid("spec.podCIDRs", cidrs, "first value must match spec.podCIDR"))
        errs += validate_taints(spec.get("taints"), "spec.taints")
        status = as_dict(obj.get("status"))
        for f in ("capacity", "allocatable"):
            errs += validate_resource_list(status.get(f), f"status.{f}", container=False)[1]
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        old_cidrs = as_list(old_spec.get("podCIDRs")) or ([old_spec["podCIDR"]] if old_spec.get("podCIDR") else [])
        new_cidrs = as_list(spec.get("podCIDRs")) or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
        if old_cidrs and new_cidrs != old_cidrs:
            errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
        if old_spec.get("providerID") and spec.get("providerID") != old_spec["providerID"]:
            errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        status = as_dict(new.get("status"))
        for f in ("capacity", "allocatable"):
            errs += validate_resource_list(status.get(f), f"status.{f}", container=False)[1]
        return errs

    def field_values(self, obj: Obj) -> dict[str, str]:
        out = super().field_values(obj)
        out["spec.unschedulable"] = "true" if as_dict(obj.get("spec")).get("unschedulable") else "false"
        return out


def validate_taints(taints: object, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(as_list(taints)):
        p = f"{path}[{i}]"
        t = as_dict(t)
        key = t.get("key")
        if not key:
            errs.append(required(f"{p}.key"))
        else:
            errs += [invalid(f"{p}.key", key, m) for m in is_qualified_name(str(key))]
        errs += validate_enum(t.get("effect"), f"{p}.effect", TAINT_EFFECTS)
        ident = (str(key), str(t.get("effect")))
        if ident in seen:
            errs.append(duplicate(p, t))
        seen.add(ident)
    return errs


# ---- Event ---------------------------------------------------------------------------------

class EventStrategy(Strategy):
    kind = "Event"
    selectable_fields = (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type",
    )

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        ns = as_dict(obj.get("metadata")).get("namespace") or ""
        involved = obj.get("involvedObject")
        if not isinstance(involved, dict):
            errs.append(required("involvedObject"))
            involved = {}
        ins = involved.get("namespace") or ""
        if not obj.get("eventTime"):
            if (not ins and ns not in ("", "default")) or (ins and ins != ns):
                errs.append(invalid("involvedObject.namespace", ins, "does not match event.namespace"))
        else:
            if not ins and ns not in ("default", "kube-system"):
                errs.append(invalid("involvedObject.namespace", ins, "does not match event.namespace"))
            rc = obj.get("reportingComponent") or ""
            if not rc:
                errs.append(required("reportingComponent"))
            else:
                errs += [invalid("reportingComponent", rc, m) for m in is_qualified_name(str(rc))]
            for f in ("reportingInstance", "action", "reason"):
                v = obj.get(f) or ""
                if not v:
                    errs.append(required(f))
                elif len(v) > 128:
                    errs.append(invalid(f, "", "can have at most 128 characters"))
            if len(obj.get("message") or "") > 1024:
                errs.append(invalid("message", "", "can have at most 1024 characters"))
        if ns:
            errs += [invalid("metadata.namespace", ns, m) for m in is_dns1123_subdomain(ns)]
        return errs

    def field_values(self, obj: Obj) -> dict[str, str]:
        out = super().field_values(obj)
        out["source"] = str(as_dict(obj.get("source")).get("component") or "")
        out["reportingComponent"] = str(obj.get("reportingComponent") or "")
        return out


register(NodeStrategy())
register(EventStrategy())
