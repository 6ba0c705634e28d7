"""batch/v1 CronJob: upstream 1.32 defaults and validation.

The schedule is checked with the same parser the CronJob controller uses (`batch_cron`), so
a schedule the API accepts is one the controller can run. Zones go in `spec.timeZone`; a
`TZ=` prefix in the schedule is rejected, as upstream does on create (upstream tolerates it on
update of an object that already had one; no such object can be stored here).
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, not_supported, required
from ..strategy import Strategy, register
from ..validation import validate_annotations, validate_labels
from .apps_common import default_pod_template, spec_of
from .batch_cron import TZ_CHARS, CronError, load_location, schedule_error
from .batch_job import validate_job_spec
from .core_common import as_dict, validate_nonnegative

Obj = dict[str, Any]
MAX_NAME = 52  # the controller appends "-<11 digits>" to name Jobs; Job names are ≤ 63


def validate_schedule(schedule: Any, time_zone: Any, allow_tz_in_schedule: bool) -> list[FieldError]:
    p = "spec.schedule"
    if not schedule:
        return [required(p)]
    if not isinstance(schedule, str):
        return [invalid(p, schedule, "must be a string")]
    errs = []
    msg = schedule_error(schedule)
    if msg is not None:
        errs.append(invalid(p, schedule, msg))
    if "TZ" in schedule:
        if not allow_tz_in_schedule:
            errs.append(invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
        elif time_zone is not None:
            errs.append(invalid(p, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    return errs


def validate_time_zone(tz: Any) -> list[FieldError]:
    p = "spec.timeZone"
    if tz is None:
        return []
    if not isinstance(tz, str) or tz == "":
        return [invalid(p, tz, "timeZone must be nil or non-empty string")]
    for part in tz.split("/"):
        if part in (".", "..") or part.startswith("-") or not TZ_CHARS.match(part):
            return [invalid(p, tz, f"unknown time zone {tz}")]
    errs = []
    if tz.lower() == "local":
        errs.append(invalid(p, tz, "timeZone must be an explicit time zone as defined in "
                                   "https://www.iana.org/time-zones"))
        return errs
    try:
        load_location(tz)
    except CronError as e:
        errs.append(invalid(p, tz, str(e)))
    return errs


def validate_job_template(jt: Any) -> list[FieldError]:
    p = "spec.jobTemplate"
    if not isinstance(jt, dict):
        return [required(p)] if jt is None else [invalid(p, jt, "must be an object")]
    meta = as_dict(jt.get("metadata"))
    errs = validate_labels(meta.get("labels"), f"{p}.metadata.labels")
    errs += validate_annotations(meta.get("annotations"), f"{p}.metadata.annotations")
    spec = as_dict(jt.get("spec"))
    errs += validate_job_spec(spec, f"{p}.spec")
    if spec.get("selector") is not None:
        errs.append(invalid(f"{p}.spec.selector", spec["selector"], "`selector` will be auto-generated"))
    if spec.get("manualSelector") is True:
        errs.append(not_supported(f"{p}.spec.manualSelector", True, ["nil", "false"]))
    return errs


class CronJobStrategy(Strategy):
    group, kind, has_status = "batch", "CronJob", True

    def default(self, obj: Obj) -> None:
        spec = spec_of(obj)
        if not spec.get("concurrencyPolicy"):
            spec["concurrencyPolicy"] = "Allow"
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        jt = spec.get("jobTemplate")
        if isinstance(jt, dict) and isinstance(jt.get("spec"), dict):
            default_pod_template(jt["spec"].get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        return self._validate(obj, allow_tz=False)

    def _validate(self, obj: Obj, allow_tz: bool) -> list[FieldError]:
        errs = super().validate(obj)
        name = as_dict(obj.get("metadata")).get("name")
        if isinstance(name, str) and len(name) > MAX_NAME:
            errs.append(invalid("metadata.name", name, f"must be no more than {MAX_NAME} characters"))
        spec = as_dict(obj.get("spec"))
        errs += validate_schedule(spec.get("schedule"), spec.get("timeZone"), allow_tz)
        errs += validate_time_zone(spec.get("timeZone"))
        errs += validate_nonnegative(spec.get("startingDeadlineSeconds"), "spec.startingDeadlineSeconds")
        cp = spec.get("concurrencyPolicy") or ""
        if cp == "":
            errs.append(required("spec.concurrencyPolicy"))
        elif cp not in ("Allow", "Forbid", "Replace"):
            errs.append(not_supported("spec.concurrencyPolicy", cp, ["Allow", "Forbid", "Replace"]))
        errs += validate_job_template(spec.get("jobTemplate"))
        errs += validate_nonnegative(spec.get("successfulJobsHistoryLimit"), "spec.successfulJobsHistoryLimit")
        errs += validate_nonnegative(spec.get("failedJobsHistoryLimit"), "spec.failedJobsHistoryLimit")
        return errs


register(CronJobStrategy())
