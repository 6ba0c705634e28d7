"""autoscaling HorizontalPodAutoscaler, stored and validated in its v2 form.

autoscaling/v1 requests are converted to v2 (`api.convert`) before these hooks run, so one
strategy serves both versions. Defaults are upstream's v2 ones: minReplicas 1, a CPU 80%
utilization metric when none is given, and behavior defaults only when a behavior is given.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..quantity import quantity
from ..strategy import Strategy, register
from ..validation import is_path_segment_name
from .core_common import as_dict, as_list, is_int

Obj = dict[str, Any]
DEFAULT_CPU_UTILIZATION = 80
_SOURCES = {"Object": "object", "Pods": "pods", "Resource": "resource",
            "ContainerResource": "containerResource", "External": "external"}


def _scale_up_default() -> Obj:
    return {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _scale_down_default() -> Obj:
    return {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _fill_rules(rules: Any, defaults: Obj, window: int) -> Obj:
    if not isinstance(rules, dict):
        out = defaults
        out.setdefault("stabilizationWindowSeconds", window)
        return out
    rules.setdefault("selectPolicy", "Max")
    rules.setdefault("stabilizationWindowSeconds", window)
    if not rules.get("policies"):
        rules["policies"] = defaults["policies"]
    return rules


def default_hpa(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _fill_rules(behavior.get("scaleUp"), _scale_up_default(), 0)
        behavior["scaleDown"] = _fill_rules(behavior.get("scaleDown"), _scale_down_default(), 300)


def _validate_ref(ref: Any, path: str) -> list[FieldError]:
    ref = as_dict(ref)
    errs: list[FieldError] = []
    for f in ("kind", "name"):
        v = ref.get(f)
        if not v:
            errs.append(required(f"{path}.{f}"))
        else:
            errs += [invalid(f"{path}.{f}", v, m) for m in is_path_segment_name(str(v))]
    return errs


def _validate_target(t: Any, path: str) -> list[FieldError]:
    t = as_dict(t)
    errs: list[FieldError] = []
    typ = t.get("type")
    if not typ:
        errs.append(required(f"{path}.type", "must specify a metric target type"))
    elif typ not in ("Utilization", "Value", "AverageValue"):
        errs.append(invalid(f"{path}.type", typ, "must be either Utilization, Value, or AverageValue"))
    au = t.get("averageUtilization")
    if au is not None and (not is_int(au) or au <= 0):
        errs.append(invalid(f"{path}.averageUtilization", au, "must be greater than 0"))
    for f in ("value", "averageValue"):
        v = t.get(f)
        if v is None:
            continue
        try:
            q = quantity(v)
        except (ValueError, TypeError):
            errs.append(invalid(f"{path}.{f}", v, "must be a quantity"))
            continue
        if q.sign() <= 0:
            errs.append(invalid(f"{path}.{f}", v, "must be positive"))
    return errs


def _validate_metric(m: Any, path: str) -> list[FieldError]:
    m = as_dict(m)
    typ = m.get("type")
    errs: list[FieldError] = []
    populated = [k for k in _SOURCES.values() if m.get(k) is not None]
    if len(populated) > 1:
        errs.append(forbidden(path, "must populate the given metric source only"))
    if not typ:
        return errs + [required(f"{path}.type", "must specify a metric source type")]
    if typ not in _SOURCES:
        return errs + [not_supported(f"{path}.type", typ, list(_SOURCES))]
    key = _SOURCES[typ]
    src = m.get(key)
    if not isinstance(src, dict):
        return errs + [required(f"{path}.{key}", "must populate information for the given metric source")]
    p = f"{path}.{key}"
    target = as_dict(src.get("target"))
    if typ in ("Resource", "ContainerResource"):
        if not src.get("name"):
            errs.append(required(f"{p}.name", "must specify a resource name"))
        if typ == "ContainerResource" and not src.get("container"):
            errs.append(required(f"{p}.container", "must specify a container"))
        if target.get("averageUtilization") is None and target.get("averageValue") is None:
            errs.append(required(f"{p}.target.averageUtilization", "must set either a target raw value or a target utilization"))
        elif target.get("averageUtilization") is not None and target.get("averageValue") is not None:
            errs.append(forbidden(f"{p}.target.averageValue", "may not set both a target raw value and a target utilization"))
    else:
        if not as_dict(src.get("metric")).get("name"):
            errs.append(required(f"{p}.metric.name", "must specify a metric name"))
        if typ == "Object":
            errs += _validate_ref(src.get("describedObject"), f"{p}.describedObject")
        if typ == "Pods" and target.get("averageValue") is None:
            errs.append(required(f"{p}.target.averageValue", "must specify a positive target averageValue"))
        if typ in ("Object", "External") and target.get("value") is None and target.get("averageValue") is None:
            errs.append(required(f"{p}.target.value", "must set either a target value or averageValue"))
    errs += _validate_target(src.get("target"), f"{p}.target")
    return errs


def _validate_rules(rules: Any, path: str) -> list[FieldError]:
    if rules is None:
        return []
    r = as_dict(rules)
    errs: list[FieldError] = []
    w = r.get("stabilizationWindowSeconds")
    if is_int(w) and w < 0:
        errs.append(invalid(f"{path}.stabilizationWindowSeconds", w, "must be greater than or equal to zero"))
    elif is_int(w) and w > 3600:
        errs.append(invalid(f"{path}.stabilizationWindowSeconds", w, "must be less than or equal to 3600"))
    sp = r.get("selectPolicy")
    if sp is not None and sp not in ("Max", "Min", "Disabled"):
        errs.append(not_supported(f"{path}.selectPolicy", sp, ["Disabled", "Max", "Min"]))
    policies = as_list(r.get("policies"))
    if not policies:
        errs.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, pol in enumerate(policies):
        pp = f"{path}.policies[{i}]"
        pol = as_dict(pol)
        if pol.get("type") not in ("Pods", "Percent"):
            errs.append(not_supported(f"{pp}.type", pol.get("type", ""), ["Percent", "Pods"]))
        v, ps = pol.get("value"), pol.get("periodSeconds")
        if not is_int(v) or v <= 0:
            errs.append(invalid(f"{pp}.value", v, "must be greater than zero"))
        if not is_int(ps) or ps <= 0:
            errs.append(invalid(f"{pp}.periodSeconds", ps, "must be greater than zero"))
        elif ps > 1800:
            errs.append(invalid(f"{pp}.periodSeconds", ps, "must be less than or equal to 1800"))
    return errs


def validate_hpa_spec(spec: Obj) -> list[FieldError]:
    errs = _validate_ref(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    mn, mx = spec.get("minReplicas"), spec.get("maxReplicas")
    if mn is not None and (not is_int(mn) or mn < 1):
        errs.append(invalid("spec.minReplicas", mn, "must be greater than or equal to 1"))
    if not is_int(mx) or mx < 1:
        errs.append(invalid("spec.maxReplicas", mx, "must be greater than 0"))
    elif is_int(mn) and mx < mn:
        errs.append(invalid("spec.maxReplicas", mx, "must be greater than or equal to `minReplicas`"))
    for i, m in enumerate(as_list(spec.get("metrics"))):
        errs += _validate_metric(m, f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        errs += _validate_rules(behavior.get("scaleUp"), "spec.behavior.scaleUp")
        errs += _validate_rules(behavior.get("scaleDown"), "spec.behavior.scaleDown")
    return errs


class HorizontalPodAutoscalerStrategy(Strategy):
    group, kind, has_status = "autoscaling", "HorizontalPodAutoscaler", True

    def default(self, obj: Obj) -> None:
        default_hpa(obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + validate_hpa_spec(as_dict(obj.get("spec")))

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        st = as_dict(new.get("status"))
        errs: list[FieldError] = []
        for f in ("currentReplicas", "desiredReplicas"):
            v = st.get(f)
            if v is not None and (not is_int(v) or v < 0):
                errs.append(invalid(f"status.{f}", v, "must be greater than or equal to 0"))
        return errs


register(HorizontalPodAutoscalerStrategy())
