"""LimitRange, ResourceQuota and ReplicationController strategies.

LimitRange defaults (a container default limit from max, a default request from the default
limit or min) are what the LimitRanger admission later applies to pods, so they must be filled
in and ordered consistently (min ≤ default request ≤ default ≤ max). ReplicationController is
the oldest workload: its selector and labels default from the template's labels.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..strategy import Obj, Strategy, register
from ..validation import validate_labels
from .core_common import as_dict, as_list, validate_nonnegative, validate_resource_list
from .core_pod import default_pod_template, validate_pod_template

LIMIT_TYPES = ["Pod", "Container", "PersistentVolumeClaim"]
QUOTA_SCOPES = ["Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                "CrossNamespacePodAffinity"]


class LimitRangeStrategy(Strategy):
    kind = "LimitRange"

    def default(self, obj: Obj) -> None:
        for item in as_list(as_dict(obj.get("spec")).get("limits")):
            if not isinstance(item, dict) or item.get("type") != "Container":
                continue
            default = dict(as_dict(item.get("default")))
            request = dict(as_dict(item.get("defaultRequest")))
            for k, v in as_dict(item.get("max")).items():
                default.setdefault(k, v)
            for k, v in default.items():
                request.setdefault(k, v)
            for k, v in as_dict(item.get("min")).items():
                request.setdefault(k, v)
            if default:
                item["default"] = default
            if request:
                item["defaultRequest"] = request

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        for i, item in enumerate(as_list(as_dict(obj.get("spec")).get("limits"))):
            errs += _validate_limit_item(as_dict(item), f"spec.limits[{i}]")
        return errs


def _validate_limit_item(item: Obj, p: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ltype = item.get("type")
    if not ltype:
        errs.append(required(f"{p}.type"))
    elif ltype not in LIMIT_TYPES and "/" not in str(ltype):
        errs.append(not_supported(f"{p}.type", ltype, LIMIT_TYPES))
    lists = {}
    for f in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
        lists[f], e = validate_resource_list(item.get(f), f"{p}.{f}", container=False)
        errs += e
    if ltype == "Pod":
        for f in ("default", "defaultRequest"):
            if item.get(f):
                errs.append(forbidden(f"{p}.{f}", "may not be specified when `type` is 'Pod'"))
    mx, mn, df, dr, ratio = (lists[f] for f in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"))
    keys = set(mx) | set(mn) | set(df) | set(dr) | set(ratio)
    for k in sorted(keys):
        if k in mn and k in mx and mn[k] > mx[k]:
            errs.append(invalid(f"{p}.min[{k}]", mn[k].canonical(),
                                f"min value {mn[k].canonical()} is greater than max value {mx[k].canonical()}"))
        if k in dr and k in mn and mn[k] > dr[k]:
            errs.append(invalid(f"{p}.defaultRequest[{k}]", dr[k].canonical(),
                                f"min value {mn[k].canonical()} is greater than default request value "
                                f"{dr[k].canonical()}"))
        if k in dr and k in mx and dr[k] > mx[k]:
            errs.append(invalid(f"{p}.defaultRequest[{k}]", dr[k].canonical(),
                                f"default request value {dr[k].canonical()} is greater than max value "
                                f"{mx[k].canonical()}"))
        if k in dr and k in df and dr[k] > df[k]:
            errs.append(invalid(f"{p}.defaultRequest[{k}]", dr[k].canonical(),
                                f"default request value {dr[k].canonical()} is greater than default limit value "
                                f"{df[k].canonical()}"))
        if k in df and k in mx and df[k] > mx[k]:
            errs.append(invalid(f"{p}.default[{k}]", df[k].canonical(),
                                f"default value {df[k].canonical()} is greater than max value {mx[k].canonical()}"))
        if k in df and k in mn and mn[k] > df[k]:
            errs.append(invalid(f"{p}.default[{k}]", df[k].canonical(),
                                f"min value {mn[k].canonical()} is greater than default value {df[k].canonical()}"))
        if k in ratio and ratio[k].amount < 1:
            errs.append(invalid(f"{p}.maxLimitRequestRatio[{k}]", ratio[k].canonical(),
                                f"ratio {ratio[k].canonical()} is less than 1"))
    return errs


class ResourceQuotaStrategy(Strategy):
    kind = "ResourceQuota"
    has_status = True

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        errs += validate_resource_list(spec.get("hard"), "spec.hard", container=False)[1]
        for i, scope in enumerate(as_list(spec.get("scopes"))):
            if scope not in QUOTA_SCOPES:
                errs.append(not_supported(f"spec.scopes[{i}]", scope, QUOTA_SCOPES))
        for i, expr in enumerate(as_list(as_dict(spec.get("scopeSelector")).get("matchExpressions"))):
            expr = as_dict(expr)
            if expr.get("scopeName") not in QUOTA_SCOPES:
                errs.append(not_supported(f"spec.scopeSelector.matchExpressions[{i}].scopeName",
                                          expr.get("scopeName"), QUOTA_SCOPES))
            if expr.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
                errs.append(not_supported(f"spec.scopeSelector.matchExpressions[{i}].operator",
                                          expr.get("operator"), ["DoesNotExist", "Exists", "In", "NotIn"]))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_dict(new.get("status"))
        errs = validate_resource_list(status.get("hard"), "status.hard", container=False)[1]
        return errs + validate_resource_list(status.get("used"), "status.used", container=False)[1]


class ReplicationControllerStrategy(Strategy):
    kind = "ReplicationController"
    has_status = True
    selectable_fields = ("status.replicas",)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"replicas": 0}
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            meta["generation"] = 1

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        template = spec.get("template")
        labels = as_dict(as_dict(template).get("metadata")).get("labels")
        if isinstance(labels, dict) and labels:
            if not spec.get("selector"):
                spec["selector"] = dict(labels)
            meta = obj.get("metadata")
            if isinstance(meta, dict) and not meta.get("labels"):
                meta["labels"] = dict(labels)
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        if isinstance(template, dict):
            default_pod_template(template)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs + [required("spec")]
        selector = spec.get("selector")
        if not selector:
            errs.append(required("spec.selector"))
        else:
            errs += validate_labels(selector, "spec.selector")
        errs += validate_nonnegative(spec.get("replicas"), "spec.replicas")
        errs += validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        template = spec.get("template")
        if template is None:
            return errs + [required("spec.template")]
        errs += validate_pod_template(template, "spec.template")
        labels = as_dict(as_dict(as_dict(template).get("metadata")).get("labels"))
        if isinstance(selector, dict) and selector and any(labels.get(k) != v for k, v in selector.items()):
            errs.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
        tspec = as_dict(as_dict(template).get("spec"))
        if tspec.get("restartPolicy") not in (None, "Always"):
            errs.append(not_supported("spec.template.spec.restartPolicy", tspec["restartPolicy"], ["Always"]))
        if tspec.get("activeDeadlineSeconds") is not None:
            errs.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                  "activeDeadlineSeconds in ReplicationController is not Supported"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return validate_replica_status(as_dict(new.get("status")))


def validate_replica_status(status: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"):
        errs += validate_nonnegative(status.get(f), f"status.{f}")
    replicas: Any = status.get("replicas") or 0
    for f in ("fullyLabeledReplicas", "readyReplicas"):
        if (status.get(f) or 0) > replicas:
            errs.append(invalid(f"status.{f}", status.get(f), "cannot be greater than status.replicas"))
    if (status.get("availableReplicas") or 0) > (status.get("readyReplicas") or 0):
        errs.append(invalid("status.availableReplicas", status.get("availableReplicas"),
                            "cannot be greater than readyReplicas"))
    return errs


register(LimitRangeStrategy())
register(ResourceQuotaStrategy())
register(ReplicationControllerStrategy())
