"""apps/v1 StatefulSet: upstream 1.32 defaults, validation and update rules.

A StatefulSet's identity (service name, claim templates, selector, pod management policy)
cannot change once pods and volumes exist, which is why upstream forbids updates to
everything in spec except a short list; that list and its message are copied here.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..strategy import Strategy, register
from .apps_common import (
    collision_count_decrement,
    default_pod_template,
    int_or_percent_value,
    not_more_than_100_percent,
    spec_of,
    validate_always_restart,
    validate_positive_int_or_percent,
    validate_required_selector,
    validate_selector_matches_template,
    validate_status_counts,
    validate_template_metadata,
)
from .core_common import as_dict, as_list, validate_nonnegative

Obj = dict[str, Any]

MUTABLE_SPEC = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
FORBIDDEN_UPDATE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                    "'minReadySeconds' are forbidden")


def _default_claim_template(claim: Any) -> None:
    """What core/v1 defaulting does to an embedded PersistentVolumeClaim."""
    if not isinstance(claim, dict):
        return
    claim.setdefault("apiVersion", "v1")
    claim.setdefault("kind", "PersistentVolumeClaim")
    spec = claim.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    status = claim.get("status")
    if not isinstance(status, dict):
        status = claim["status"] = {}
    status.setdefault("phase", "Pending")


def _validate_update_strategy(us: Any) -> list[FieldError]:
    us = as_dict(us)
    t = us.get("type") or ""
    ru = us.get("rollingUpdate")
    p = "spec.updateStrategy"
    if t == "":
        return [required(p)]
    if t == "OnDelete":
        if ru is not None:
            return [invalid(f"{p}.rollingUpdate", ru, "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if t == "RollingUpdate":
        if not isinstance(ru, dict):
            return []
        errs = validate_nonnegative(ru.get("partition"), f"{p}.rollingUpdate.partition")
        mu = ru.get("maxUnavailable")
        if mu is not None:
            mp = f"{p}.rollingUpdate.maxUnavailable"
            errs += validate_positive_int_or_percent(mu, mp)
            if int_or_percent_value(mu) == 0:
                errs.append(invalid(mp, mu, "cannot be 0"))
            errs += not_more_than_100_percent(mu, mp)
        return errs
    return [invalid(p, us, "must be 'RollingUpdate' or 'OnDelete'")]


def _validate_retention(policy: Any) -> list[FieldError]:
    if policy is None:
        return []
    errs = []
    for f in ("whenDeleted", "whenScaled"):
        v = as_dict(policy).get(f, "")
        if v not in ("Retain", "Delete"):
            errs.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{f}", v, ["Retain", "Delete"]))
    return errs


class StatefulSetStrategy(Strategy):
    group, kind, has_status = "apps", "StatefulSet", True
    name_validator = "label"  # pods are named <set>-<ordinal> and carry it as a label/hostname

    def default(self, obj: Obj) -> None:
        spec = spec_of(obj)
        if not spec.get("podManagementPolicy"):
            spec["podManagementPolicy"] = "OrderedReady"
        us = spec.get("updateStrategy")
        if not isinstance(us, dict):
            us = spec["updateStrategy"] = {}
        if not us.get("type"):
            us["type"] = "RollingUpdate"
            if us.get("rollingUpdate") is None:
                us["rollingUpdate"] = {}
        if us["type"] == "RollingUpdate" and isinstance(us.get("rollingUpdate"), dict):
            us["rollingUpdate"].setdefault("partition", 0)
        pvc = spec.get("persistentVolumeClaimRetentionPolicy")
        if not isinstance(pvc, dict):
            pvc = spec["persistentVolumeClaimRetentionPolicy"] = {}
        for f in ("whenDeleted", "whenScaled"):
            if not pvc.get(f):
                pvc[f] = "Retain"
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        default_pod_template(spec.get("template"))
        for claim in as_list(spec.get("volumeClaimTemplates")):
            _default_claim_template(claim)

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + self._validate_spec(as_dict(obj.get("spec")))

    def _validate_spec(self, spec: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        pmp = spec.get("podManagementPolicy") or ""
        if pmp == "":
            errs.append(required("spec.podManagementPolicy"))
        elif pmp not in ("OrderedReady", "Parallel"):
            errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
        errs += _validate_update_strategy(spec.get("updateStrategy"))
        errs += _validate_retention(spec.get("persistentVolumeClaimRetentionPolicy"))
        errs += validate_nonnegative(spec.get("replicas"), "spec.replicas")
        errs += validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        ordinals = spec.get("ordinals")
        if isinstance(ordinals, dict):
            errs += validate_nonnegative(ordinals.get("start"), "spec.ordinals.start")
        errs += validate_required_selector(spec, "spec", "statefulset")
        errs += validate_selector_matches_template(spec, "spec")
        template = spec.get("template")
        if template is None:
            errs.append(required("spec.template"))
        else:
            # Upstream validates only the template's metadata here (claim-template volumes
            # would fail the pod-spec volume checks).
            errs += validate_template_metadata(template, "spec.template")
        errs += validate_always_restart(spec, "spec", "StatefulSet")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
        rest_new = {k: v for k, v in ns.items() if k not in MUTABLE_SPEC}
        rest_old = {k: v for k, v in os_.items() if k not in MUTABLE_SPEC}
        if rest_new != rest_old:
            errs.append(forbidden("spec", FORBIDDEN_UPDATE))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        fields = ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas")
        # StatefulSet words the available-vs-ready rule "status.readyReplicas".
        errs = [FieldError(e.reason, e.field, e.message.replace("than readyReplicas", "than status.readyReplicas"))
                for e in validate_status_counts(new.get("status"), fields)]
        return errs + collision_count_decrement(new, old)


register(StatefulSetStrategy())
