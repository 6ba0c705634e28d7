"""batch/v1 Job: upstream 1.32 defaults, generated selector, validation and update rules.

Unless `manualSelector` is true the server owns the selector: it labels the pod template with
the Job's uid and name and selects on the uid, so two Jobs can never adopt each other's pods.
That happens in `prepare_for_create` (the API server has set metadata.uid by then). A Job's
pod template is frozen once the Job exists, except the scheduling directives of a suspended
Job that never started (what Kueue-style queueing relies on).
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, not_supported, required
from ..selectors import validate_label_selector
from ..strategy import Strategy, register
from .apps_common import (
    SELECTOR_MISMATCH,
    default_pod_template,
    immutable,
    selector_matches,
    spec_of,
    validate_pod_template,
)
from .core_common import as_dict, as_list, is_int, validate_nonnegative

Obj = dict[str, Any]

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
MAX_INDEXED = 100_000
INT32_MAX = 2**31 - 1
# Template fields a suspended, never-started Job may still change.
_MUTABLE_SCHEDULING = ("nodeSelector", "tolerations", "affinity", "schedulingGates")


def generate_selector(job: Obj) -> None:
    """upstream generateSelector: label the template with the uid/name, select on the uid."""
    meta = as_dict(job.get("metadata"))
    uid, name = str(meta.get("uid", "")), str(meta.get("name", ""))
    template = job["spec"].setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    for key, value in ((LEGACY_JOB_NAME, name), (JOB_NAME, name),
                       (LEGACY_CONTROLLER_UID, uid), (CONTROLLER_UID, uid)):
        labels.setdefault(key, value)
    sel = job["spec"].get("selector")
    if not isinstance(sel, dict):
        sel = job["spec"]["selector"] = {}
    ml = sel.get("matchLabels")
    if not isinstance(ml, dict):
        ml = sel["matchLabels"] = {}
    ml.setdefault(CONTROLLER_UID, uid)


def _has_label(labels: Obj, key: str, want: str) -> list[FieldError]:
    """upstream ValidateHasLabel."""
    path = f"spec.template.metadata.labels[{key}]"
    if key not in labels:
        return [required(path, want)]
    if labels[key] != want:
        return [invalid(path, labels, f"must be '{want}'")]
    return []


def validate_generated_selector(job: Obj) -> list[FieldError]:
    spec = as_dict(job.get("spec"))
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    meta = as_dict(job.get("metadata"))
    uid, name = str(meta.get("uid", "")), str(meta.get("name", ""))
    errs: list[FieldError] = []
    if not uid:
        errs.append(required("metadata.uid"))
    labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    expected = {}
    for key, want in ((LEGACY_CONTROLLER_UID, uid), (LEGACY_JOB_NAME, name),
                      (CONTROLLER_UID, uid), (JOB_NAME, name)):
        errs += _has_label(labels, key, want)
        expected[key] = want
    if selector_matches(spec.get("selector"), expected) is False:
        errs.append(invalid("spec.selector", spec.get("selector"), "`selector` not auto-generated"))
    return errs


def validate_job_spec(spec: Obj, path: str) -> list[FieldError]:
    """upstream validateJobSpec: everything but the selector (shared with CronJob templates)."""
    errs: list[FieldError] = []
    for f in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
              "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        errs += validate_nonnegative(spec.get(f), f"{path}.{f}")
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        completions, parallelism = spec.get("completions"), spec.get("parallelism")
        if completions is None:
            errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
        elif is_int(completions) and completions > MAX_INDEXED:
            errs.append(invalid(f"{path}.completions", completions,
                                f"must be less than or equal to {MAX_INDEXED} when completion mode is Indexed"))
        if is_int(parallelism) and parallelism > MAX_INDEXED:
            errs.append(invalid(f"{path}.parallelism", parallelism,
                                f"must be less than or equal to {MAX_INDEXED} when completion mode is Indexed"))
    elif spec.get("backoffLimitPerIndex") is not None:
        errs.append(invalid(f"{path}.backoffLimitPerIndex", spec["backoffLimitPerIndex"],
                            "requires completionMode: Indexed"))
    template = spec.get("template")
    errs += validate_pod_template(template, f"{path}.template")
    rp = as_dict(as_dict(template).get("spec")).get("restartPolicy", "")
    if rp not in ("OnFailure", "Never"):
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", rp, ["OnFailure", "Never"]))
    elif spec.get("podFailurePolicy") is not None and rp != "Never":
        errs.append(invalid(f"{path}.template.spec.restartPolicy", rp,
                            'only "Never" is supported when podFailurePolicy is specified'))
    rpp = spec.get("podReplacementPolicy")
    if rpp is not None:
        allowed = ["Failed"] if spec.get("podFailurePolicy") is not None else ["Failed", "TerminatingOrFailed"]
        if rpp not in allowed:
            errs.append(not_supported(f"{path}.podReplacementPolicy", rpp, allowed))
    return errs


def default_job_spec(spec: Obj) -> None:
    """SetDefaults_Job's spec part (also used for Jobs created from CronJobs)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = INT32_MAX if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    pfp = spec.get("podFailurePolicy")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if pfp is not None else "TerminatingOrFailed"
    for rule in as_list(as_dict(pfp).get("rules")):
        for pattern in as_list(as_dict(rule).get("onPodConditions")):
            if isinstance(pattern, dict) and not pattern.get("status"):
                pattern["status"] = "True"
    default_pod_template(spec.get("template"))


def _copy_template_labels(job: Obj) -> None:
    """SetDefaults_Job gives a Job without labels its template's labels (upstream shares the
    map, so the generated labels end up on the Job too when the template had labels)."""
    meta = job.setdefault("metadata", {})
    tlabels = as_dict(as_dict(as_dict(job.get("spec")).get("template")).get("metadata")).get("labels")
    if isinstance(tlabels, dict) and not meta.get("labels"):
        meta["labels"] = dict(tlabels)


class JobStrategy(Strategy):
    group, kind, has_status = "batch", "Job", True
    selectable_fields = ("status.successful",)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        spec = spec_of(obj)
        template_had_labels = isinstance(
            as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"), dict)
        if spec.get("manualSelector") is not True:
            generate_selector(obj)
        if template_had_labels:
            _copy_template_labels(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        _copy_template_labels(new)

    def default(self, obj: Obj) -> None:
        default_job_spec(spec_of(obj))

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = as_dict(obj.get("spec"))
        errs = super().validate(obj)
        errs += validate_generated_selector(obj)
        errs += validate_job_spec(spec, "spec")
        sel = spec.get("selector")
        if sel is None:
            errs.append(required("spec.selector"))
        else:
            errs += validate_label_selector(sel, "spec.selector")
            labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
            if selector_matches(sel, labels) is False:
                errs.append(invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if not _elastic_indexed(ns, os_):
            errs += immutable(ns.get("completions"), os_.get("completions"), "spec.completions")
        errs += immutable(ns.get("selector"), os_.get("selector"), "spec.selector")
        errs += immutable(ns.get("completionMode"), os_.get("completionMode"), "spec.completionMode")
        nt, ot = ns.get("template"), os_.get("template")
        suspended_unstarted = os_.get("suspend") is True and not as_dict(old.get("status")).get("startTime")
        if suspended_unstarted:
            nt, ot = _without_scheduling(nt), _without_scheduling(ot)
        if nt != ot:
            errs.append(invalid("spec.template", ns.get("template"), "field is immutable"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        st = as_dict(new.get("status"))
        errs: list[FieldError] = []
        for f in ("active", "succeeded", "failed", "ready", "terminating"):
            errs += validate_nonnegative(st.get(f), f"status.{f}")
        return errs

    def field_values(self, obj: Obj) -> dict[str, str]:
        out = super().field_values(obj)
        succeeded = as_dict(obj.get("status")).get("succeeded", 0)
        out["status.successful"] = str(succeeded if is_int(succeeded) else 0)
        return out


def _elastic_indexed(new: Obj, old: Obj) -> bool:
    """Indexed Jobs may scale completions together with parallelism (ElasticIndexedJob, GA)."""
    return (new.get("completionMode") == "Indexed" and old.get("completionMode") == "Indexed"
            and new.get("completions") == new.get("parallelism")
            and old.get("completions") == old.get("parallelism"))


def _without_scheduling(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    out = {k: v for k, v in template.items() if k not in ("metadata", "spec")}
    meta = as_dict(template.get("metadata"))
    out["metadata"] = {k: v for k, v in meta.items() if k not in ("labels", "annotations")}
    out["spec"] = {k: v for k, v in as_dict(template.get("spec")).items() if k not in _MUTABLE_SCHEDULING}
    return out


register(JobStrategy())
