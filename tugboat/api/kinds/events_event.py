"""events.k8s.io/v1 Event: validation of the new-style Event (upstream 1.32).

events.k8s.io/v1 Events are stored as core/v1 Events (`api.convert` maps regarding ↔
involvedObject, note ↔ message, …); this strategy checks the events.k8s.io form, i.e. what a
client of that API sent. It is stricter than core/v1: eventTime, reportingController,
reportingInstance, action and reason are required, the deprecated* fields must be unset, and
once written an Event only accepts changes to its series (and metadata). Field selectors are
the core/v1 ones, computed from this form.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, required
from ..strategy import Strategy, register
from ..validation import is_dns1123_subdomain, is_qualified_name
from .apps_common import immutable
from .core_common import as_dict

Obj = dict[str, Any]
REPORTING_INSTANCE_MAX = ACTION_MAX = REASON_MAX = 128
NOTE_MAX = 1024
_IMMUTABLE = ("regarding", "reason", "note", "deprecatedSource", "deprecatedFirstTimestamp",
              "deprecatedLastTimestamp", "deprecatedCount", "type", "eventTime", "action", "related",
              "reportingController", "reportingInstance")
# events.k8s.io field -> the path upstream names in its messages (the internal field names)
_UPDATE_PATHS = {"regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
                 "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedLastTimestamp": "lastTimestamp",
                 "deprecatedCount": "count"}


def _validate_series(ev: Obj) -> list[FieldError]:
    series = ev.get("series")
    if series is None:
        return []
    s = as_dict(series)
    errs: list[FieldError] = []
    count = s.get("count", 0)
    if not isinstance(count, int) or count < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not s.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime"))
    return errs


def _legacy_checks(ev: Obj, namespace: str) -> list[FieldError]:
    """The checks every Event passes, in the events.k8s.io shape (eventTime set)."""
    errs: list[FieldError] = []
    reg_ns = as_dict(ev.get("regarding")).get("namespace") or ""
    if ev.get("eventTime"):
        if not reg_ns and namespace not in ("default", "kube-system"):
            errs.append(invalid("involvedObject.namespace", reg_ns, "does not match event.namespace"))
        rc = ev.get("reportingController") or ""
        if not rc:
            errs.append(required("reportingController"))
        errs += [invalid("reportingController", rc, m) for m in is_qualified_name(str(rc))]
        for f, limit in (("reportingInstance", REPORTING_INSTANCE_MAX), ("action", ACTION_MAX),
                         ("reason", REASON_MAX)):
            v = ev.get(f) or ""
            if not v:
                errs.append(required(f))
            if len(str(v)) > limit:
                errs.append(invalid(f, "", f"can have at most {limit} characters"))
        if len(str(ev.get("note") or "")) > NOTE_MAX:
            errs.append(invalid("message", "", f"can have at most {NOTE_MAX} characters"))
    elif reg_ns and namespace != reg_ns or not reg_ns and namespace not in ("", "default"):
        errs.append(invalid("involvedObject.namespace", reg_ns, "does not match event.namespace"))
    errs += [invalid("namespace", namespace, m) for m in is_dns1123_subdomain(namespace)]
    return errs


class EventsV1EventStrategy(Strategy):
    group, kind = "events.k8s.io", "Event"
    selectable_fields = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                         "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                         "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        ns = str(as_dict(obj.get("metadata")).get("namespace") or "")
        errs += _legacy_checks(obj, ns)
        errs += _validate_series(obj)
        if not obj.get("eventTime"):
            errs.append(required("eventTime"))
        t = obj.get("type") or ""
        if t not in ("Normal", "Warning"):
            errs.append(invalid("type", "", f"has invalid value: {t}"))
        for f in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"):
            if obj.get(f):
                errs.append(invalid(f, "", "needs to be unset"))
        src = as_dict(obj.get("deprecatedSource"))
        if src.get("component") or src.get("host"):
            errs.append(invalid("deprecatedSource", "", "needs to be unset"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        for f in _IMMUTABLE:
            errs += immutable(new.get(f), old.get(f), _UPDATE_PATHS.get(f, f))
        return errs

    def field_values(self, obj: Obj) -> dict[str, str]:
        meta = as_dict(obj.get("metadata"))
        reg = as_dict(obj.get("regarding"))
        out = {"metadata.name": str(meta.get("name", "")), "metadata.namespace": str(meta.get("namespace", ""))}
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            out[f"involvedObject.{f}"] = str(reg.get(f) or "")
        out["reason"] = str(obj.get("reason") or "")
        out["reportingComponent"] = str(obj.get("reportingController") or "")
        out["source"] = str(as_dict(obj.get("deprecatedSource")).get("component") or "")
        out["type"] = str(obj.get("type") or "")
        return out


register(EventsV1EventStrategy())
