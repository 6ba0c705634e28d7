"""apps/v1 Deployment and ReplicaSet: upstream 1.32 defaults, validation and field selectors.

Both run pods "forever" from a template selected by a label selector; the rules that keep a
controller from orphaning or fighting over pods (selector required, non-empty, matching the
template, immutable in apps/v1) are upstream's, with upstream's messages.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..strategy import Strategy, register
from .apps_common import (
    collision_count_decrement,
    default_pod_template,
    default_rolling_update,
    immutable,
    int_or_percent_value,
    not_more_than_100_percent,
    spec_of,
    validate_always_restart,
    validate_pod_template,
    validate_positive_int_or_percent,
    validate_required_selector,
    validate_selector_matches_template,
    validate_status_counts,
)
from .core_common import as_dict, is_int, validate_nonnegative

Obj = dict[str, Any]


def _validate_replicaset_like_spec(spec: Obj, kind: str) -> list[FieldError]:
    """What ValidateReplicaSetSpec and the common half of ValidateDeploymentSpec check."""
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs += validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += validate_required_selector(spec, "spec", "deployment")
    errs += validate_selector_matches_template(spec, "spec")
    template = spec.get("template")
    errs += validate_pod_template(template, "spec.template")
    if isinstance(template, dict):
        errs += validate_always_restart(spec, "spec", kind)
    return errs


def validate_deployment_strategy(strategy: Any, path: str) -> list[FieldError]:
    st = as_dict(strategy)
    t = st.get("type")
    ru = st.get("rollingUpdate")
    if t == "Recreate":
        if ru is not None:
            return [forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if t == "RollingUpdate":
        if ru is None:
            return [required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
        ru = as_dict(ru)
        p = f"{path}.rollingUpdate"
        mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs = validate_positive_int_or_percent(mu, f"{p}.maxUnavailable")
        errs += validate_positive_int_or_percent(ms, f"{p}.maxSurge")
        if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
            errs.append(invalid(f"{p}.maxUnavailable", mu if mu is not None else 0,
                                "may not be 0 when `maxSurge` is 0"))
        errs += not_more_than_100_percent(mu, f"{p}.maxUnavailable")
        return errs
    return [not_supported(path, t if t is not None else "", ["Recreate", "RollingUpdate"])]


class DeploymentStrategy(Strategy):
    group, kind, has_status = "apps", "Deployment", True

    def default(self, obj: Obj) -> None:
        spec = spec_of(obj)
        spec.setdefault("replicas", 1)
        default_rolling_update(spec, "strategy", "25%", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        default_pod_template(spec.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = super().validate(obj)
        errs += _validate_replicaset_like_spec(spec, "ReplicaSet")
        errs += validate_deployment_strategy(spec.get("strategy"), "spec.strategy")
        errs += validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        pds = spec.get("progressDeadlineSeconds")
        if pds is not None:
            errs += validate_nonnegative(pds, "spec.progressDeadlineSeconds")
            mrs = spec.get("minReadySeconds") or 0
            if is_int(pds) and is_int(mrs) and pds <= mrs:
                errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
        rb = spec.get("rollbackTo")
        if isinstance(rb, dict):
            errs += validate_nonnegative(rb.get("revision"), "spec.rollback.version")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        errs += immutable(as_dict(new.get("spec")).get("selector"), as_dict(old.get("spec")).get("selector"),
                          "spec.selector")
        return errs

    def spec_changed(self, new: Obj, old: Obj) -> bool:
        # Upstream also bumps the generation when annotations change (rollback requests).
        if as_dict(new.get("metadata")).get("annotations") != as_dict(old.get("metadata")).get("annotations"):
            return True
        return super().spec_changed(new, old)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        # Upstream's deploymentStatusStrategy keeps only spec and labels from the stored object:
        # the deployment controller records deployment.kubernetes.io/revision through /status.
        annotations = as_dict(new.get("metadata")).get("annotations")
        super().prepare_for_status_update(new, old)
        if annotations:
            new["metadata"]["annotations"] = annotations
        else:
            new["metadata"].pop("annotations", None)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        fields = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas")
        st = as_dict(new.get("status"))
        errs = validate_status_counts(st, fields)
        # unavailableReplicas is not bounded by replicas upstream; drop that comparison.
        errs = [e for e in errs if not (e.field == "status.unavailableReplicas" and "greater than" in e.message)]
        return errs + collision_count_decrement(new, old)


class ReplicaSetStrategy(Strategy):
    group, kind, has_status = "apps", "ReplicaSet", True
    selectable_fields = ("status.replicas",)

    def default(self, obj: Obj) -> None:
        spec = spec_of(obj)
        spec.setdefault("replicas", 1)
        default_pod_template(spec.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + _validate_replicaset_like_spec(as_dict(obj.get("spec")), "ReplicaSet")

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        errs += immutable(as_dict(new.get("spec")).get("selector"), as_dict(old.get("spec")).get("selector"),
                          "spec.selector")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        return validate_status_counts(new.get("status"), fields)

    def field_values(self, obj: Obj) -> dict[str, str]:
        out = super().field_values(obj)
        replicas = as_dict(obj.get("status")).get("replicas", 0)
        out["status.replicas"] = str(replicas if is_int(replicas) else 0)
        return out


register(DeploymentStrategy())
register(ReplicaSetStrategy())
