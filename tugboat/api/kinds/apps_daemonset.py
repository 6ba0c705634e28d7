"""apps/v1 DaemonSet and ControllerRevision: upstream 1.32 defaults and validation.

DaemonSets keep upstream's template generation counter, which apps/v1 exposes only as the
`deprecated.daemonset.template.generation` annotation (the DaemonSet controller and kubectl
rollout still read it). ControllerRevisions are immutable snapshots of a template (`data`).
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, not_supported, required
from ..selectors import validate_label_selector
from ..strategy import Strategy, register
from .apps_common import (
    SELECTOR_MISMATCH,
    collision_count_decrement,
    default_pod_template,
    default_rolling_update,
    immutable,
    int_or_percent_value,
    not_more_than_100_percent,
    selector_is_empty,
    selector_matches,
    spec_of,
    validate_always_restart,
    validate_pod_template,
    validate_positive_int_or_percent,
)
from .core_common import as_dict, validate_nonnegative

Obj = dict[str, Any]
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _validate_rolling_update(ru: Obj, p: str) -> list[FieldError]:
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    errs = validate_positive_int_or_percent(mu, f"{p}.maxUnavailable")
    errs += validate_positive_int_or_percent(ms, f"{p}.maxSurge")
    errs += not_more_than_100_percent(mu, f"{p}.maxUnavailable")
    errs += not_more_than_100_percent(ms, f"{p}.maxSurge")
    has_unavailable, has_surge = int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0
    if has_unavailable and has_surge:
        errs.append(invalid(f"{p}.maxSurge", ms, "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(f"{p}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


def _validate_update_strategy(us: Any) -> list[FieldError]:
    us = as_dict(us)
    p = "spec.updateStrategy"
    t = us.get("type")
    if t == "OnDelete":
        return []
    if t == "RollingUpdate":
        ru = us.get("rollingUpdate")
        if ru is None:
            return [required(f"{p}.rollingUpdate")]
        return _validate_rolling_update(as_dict(ru), f"{p}.rollingUpdate")
    return [not_supported(p, t or "", ["RollingUpdate", "OnDelete"])]


class DaemonSetStrategy(Strategy):
    group, kind, has_status = "apps", "DaemonSet", True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        meta = obj.setdefault("metadata", {})
        annotations = meta.get("annotations") or {}
        annotations[TEMPLATE_GENERATION] = "1"
        meta["annotations"] = annotations

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        old_gen = as_dict(as_dict(old.get("metadata")).get("annotations")).get(TEMPLATE_GENERATION, "1")
        try:
            gen = int(old_gen)
        except ValueError:
            gen = 1
        if as_dict(new.get("spec")).get("template") != as_dict(old.get("spec")).get("template"):
            gen += 1
        meta = new.setdefault("metadata", {})
        annotations = meta.get("annotations") or {}
        annotations[TEMPLATE_GENERATION] = str(gen)
        meta["annotations"] = annotations

    def default(self, obj: Obj) -> None:
        spec = spec_of(obj)
        default_rolling_update(spec, "updateStrategy", 1, 0)
        spec.setdefault("revisionHistoryLimit", 10)
        default_pod_template(spec.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = super().validate(obj)
        sel = spec.get("selector")
        errs += validate_label_selector(sel, "spec.selector")
        labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
        if selector_matches(sel, labels) is False:
            errs.append(invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
        if isinstance(sel, dict) and selector_is_empty(sel):
            errs.append(invalid("spec.selector", sel, "empty selector is invalid for daemonset"))
        errs += validate_pod_template(spec.get("template"), "spec.template")
        errs += validate_always_restart(spec, "spec", "DaemonSet")
        errs += validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        errs += _validate_update_strategy(spec.get("updateStrategy"))
        errs += validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        errs += immutable(as_dict(new.get("spec")).get("selector"), as_dict(old.get("spec")).get("selector"),
                          "spec.selector")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        st = as_dict(new.get("status"))
        errs: list[FieldError] = []
        for f in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                  "observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                  "collisionCount"):
            errs += validate_nonnegative(st.get(f), f"status.{f}")
        return errs + collision_count_decrement(new, old)


class ControllerRevisionStrategy(Strategy):
    group, kind = "apps", "ControllerRevision"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        if obj.get("data") is None:
            errs.append(required("data", "data is mandatory"))
        errs += validate_nonnegative(obj.get("revision", 0), "revision")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return super().validate_update(new, old) + immutable(new.get("data"), old.get("data"), "data")


register(DaemonSetStrategy())
register(ControllerRevisionStrategy())
