"""Rules shared by the workload and other non-core kinds (apps, batch, policy, networking …).

Upstream keeps these in `pkg/apis/apps/validation` and reuses them from other groups (PDBs
validate minAvailable with the apps int-or-percent rule), so they live next to the apps kinds
here too. The pod-template hooks forward to the core/v1 pod rules in `core_pod`, imported
lazily so that the workload kinds load even where the core kinds are not importable yet.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..selectors import label_selector_from_dict, validate_label_selector
from ..validation import validate_annotations, validate_labels
from .core_common import as_dict, is_int, validate_nonnegative

Obj = dict[str, Any]

PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' "
               "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")
_PERCENT = re.compile(r"^[0-9]+%$")
SELECTOR_MISMATCH = "`selector` does not match template `labels`"
IMMUTABLE = "field is immutable"


# ---- int-or-percent ----------------------------------------------------------------------
def percent_value(v: Any) -> int | None:
    """The number in a valid "25%" string, else None."""
    if isinstance(v, str) and _PERCENT.match(v):
        return int(v[:-1])
    return None


def int_or_percent_value(v: Any) -> int:
    """upstream getIntOrPercentValue: the percent number, the int, or 0."""
    p = percent_value(v)
    if p is not None:
        return p
    return v if is_int(v) else 0


def validate_positive_int_or_percent(v: Any, path: str) -> list[FieldError]:
    if v is None:
        return []
    if isinstance(v, str):
        return [] if _PERCENT.match(v) else [invalid(path, v, PERCENT_MSG)]
    if is_int(v):
        return validate_nonnegative(v, path)
    return [invalid(path, v, "must be an integer or percentage (e.g '5%')")]


def not_more_than_100_percent(v: Any, path: str) -> list[FieldError]:
    p = percent_value(v)
    if p is None or p <= 100:
        return []
    return [invalid(path, v, "must not be greater than 100%")]


# ---- selectors ---------------------------------------------------------------------------
def selector_matches(selector: Any, labels: Any) -> bool | None:
    """Whether a metav1.LabelSelector dict matches labels; None when it cannot be parsed."""
    if selector is not None and not isinstance(selector, dict):
        return None
    try:
        sel = label_selector_from_dict(selector)
    except (ValueError, AttributeError, TypeError):
        return None
    return sel.matches(labels if isinstance(labels, dict) else {})


def selector_is_empty(selector: Any) -> bool:
    s = as_dict(selector)
    return not s.get("matchLabels") and not s.get("matchExpressions")


def validate_required_selector(spec: Obj, path: str, kind_word: str) -> list[FieldError]:
    """selector required, valid and non-empty: the apps workloads' shared rule."""
    sel = spec.get("selector")
    if sel is None:
        return [required(f"{path}.selector")]
    errs = validate_label_selector(sel, f"{path}.selector")
    if isinstance(sel, dict) and selector_is_empty(sel):
        errs.append(invalid(f"{path}.selector", sel, f"empty selector is invalid for {kind_word}"))
    return errs


def validate_selector_matches_template(spec: Obj, path: str) -> list[FieldError]:
    sel = spec.get("selector")
    labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    if sel is None or selector_is_empty(sel):
        return []
    ok = selector_matches(sel, labels)
    if ok is None:
        return [invalid(f"{path}.selector", sel, "invalid label selector")]
    if not ok:
        return [invalid(f"{path}.template.metadata.labels", labels, SELECTOR_MISMATCH)]
    return []


# ---- pod templates (forwarded to the core/v1 rules) --------------------------------------
def default_pod_template(template: Any) -> None:
    if not isinstance(template, dict):
        return
    try:
        from . import core_pod
    except ImportError:  # the core kinds are written in parallel; degrade to no defaults
        return
    core_pod.default_pod_template(template)


def validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """Full pod-template validation (metadata + pod spec) as upstream ValidatePodTemplateSpec."""
    if template is None:
        return [required(path)]
    try:
        from . import core_pod
    except ImportError:
        return validate_template_metadata(template, path)
    return list(core_pod.validate_pod_template(template, path))


def validate_template_metadata(template: Any, path: str) -> list[FieldError]:
    """Only the template's labels and annotations (what StatefulSet validates upstream)."""
    if not isinstance(template, dict):
        return [invalid(path, template, "must be an object")]
    meta = as_dict(template.get("metadata"))
    return (validate_labels(meta.get("labels"), f"{path}.labels")
            + validate_annotations(meta.get("annotations"), f"{path}.annotations"))


def restart_policy(template: Any) -> Any:
    return as_dict(as_dict(template).get("spec")).get("restartPolicy")


def validate_always_restart(spec: Obj, path: str, kind: str) -> list[FieldError]:
    """Controllers that keep pods running need restartPolicy Always and no deadline."""
    tspec = as_dict(as_dict(spec.get("template")).get("spec"))
    errs: list[FieldError] = []
    if tspec.get("restartPolicy") != "Always":
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", tspec.get("restartPolicy", ""), ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(f"{path}.template.spec.activeDeadlineSeconds",
                              f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


# ---- misc --------------------------------------------------------------------------------
def immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    """upstream ValidateImmutableField."""
    return [] if new == old else [invalid(path, new, IMMUTABLE)]


def default_rolling_update(spec: Obj, field: str, max_unavailable: Any, max_surge: Any) -> None:
    """Default `spec.<field>` (Deployment `strategy`, DaemonSet `updateStrategy`) to
    RollingUpdate with the kind's maxUnavailable / maxSurge defaults."""
    strategy = spec.get(field)
    if not isinstance(strategy, dict):
        strategy = spec[field] = {}
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            ru = strategy["rollingUpdate"] = {}
        ru.setdefault("maxUnavailable", max_unavailable)
        ru.setdefault("maxSurge", max_surge)


def spec_of(obj: Obj) -> Obj:
    """obj["spec"], created empty when missing so defaulting can fill it."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    return spec


def validate_status_counts(status: Any, fields: tuple[str, ...], path: str = "status") -> list[FieldError]:
    """Non-negative counters and `cannot be greater than status.replicas` for the replica-like
    status fields of the apps kinds."""
    st = as_dict(status)
    errs: list[FieldError] = []
    for f in fields + ("observedGeneration", "collisionCount"):
        errs += validate_nonnegative(st.get(f), f"{path}.{f}")
    replicas = st.get("replicas", 0)
    if is_int(replicas):
        for f in fields:
            v = st.get(f, 0)
            if f != "replicas" and is_int(v) and v > replicas:
                errs.append(invalid(f"{path}.{f}", v, "cannot be greater than status.replicas"))
    ready, avail = st.get("readyReplicas", 0), st.get("availableReplicas", 0)
    if "readyReplicas" in fields and "availableReplicas" in fields and is_int(ready) and is_int(avail) \
            and avail > ready:
        errs.append(invalid(f"{path}.availableReplicas", avail, "cannot be greater than readyReplicas"))
    return errs


def collision_count_decrement(new: Obj, old: Obj) -> list[FieldError]:
    n = as_dict(new.get("status")).get("collisionCount")
    o = as_dict(old.get("status")).get("collisionCount")
    if is_int(o) and (n is None or (is_int(n) and n < o)):
        return [invalid("status.collisionCount", n or 0, "cannot be decremented")]
    return []
