"""Conversion between the versions of a resource that share one storage location.

Two built-in resources are served in two shapes: HorizontalPodAutoscaler (autoscaling/v1 and
v2, stored as v2) and Event (core/v1 and events.k8s.io/v1, stored as core/v1). The API server
converts request bodies to the storage form and responses/watch events back to the version
the client asked for. The mappings follow upstream's conversion functions, including the
`autoscaling.alpha.kubernetes.io/*` annotations autoscaling/v1 uses to carry what its schema
cannot hold, so a v2 object read and written back through v1 keeps its extra metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Obj = dict[str, Any]

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (METRICS_ANNOTATION, BEHAVIOR_ANNOTATION, CURRENT_METRICS_ANNOTATION,
                          CONDITIONS_ANNOTATION)
DEFAULT_CPU_UTILIZATION = 80


def _copy(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj))


def _pick(d: Obj, *pairs: tuple[str, Any]) -> Obj:
    """`d` plus the pairs whose value is not None, in the given order."""
    out = dict(d)
    out.update((k, v) for k, v in pairs if v is not None)
    return out


# ---- autoscaling: v1 "alpha" metric forms <-> v2 -------------------------------------------
def _metric_to_v1(m: Obj) -> Obj:
    typ = m.get("type")
    out: Obj = {"type": typ}
    if typ == "Object" and isinstance(m.get("object"), dict):
        s = m["object"]
        t, metric = s.get("target") or {}, s.get("metric") or {}
        out["object"] = _pick({}, ("target", s.get("describedObject")), ("metricName", metric.get("name")),
                              ("targetValue", t.get("value")), ("selector", metric.get("selector")),
                              ("averageValue", t.get("averageValue")))
    elif typ == "Pods" and isinstance(m.get("pods"), dict):
        s = m["pods"]
        t, metric = s.get("target") or {}, s.get("metric") or {}
        out["pods"] = _pick({}, ("metricName", metric.get("name")), ("targetAverageValue", t.get("averageValue")),
                            ("selector", metric.get("selector")))
    elif typ in ("Resource", "ContainerResource"):
        key = "resource" if typ == "Resource" else "containerResource"
        s = m.get(key) or {}
        t = s.get("target") or {}
        out[key] = _pick({}, ("name", s.get("name")), ("targetAverageUtilization", t.get("averageUtilization")),
                         ("targetAverageValue", t.get("averageValue")), ("container", s.get("container")))
    elif typ == "External" and isinstance(m.get("external"), dict):
        s = m["external"]
        t, metric = s.get("target") or {}, s.get("metric") or {}
        out["external"] = _pick({}, ("metricName", metric.get("name")), ("metricSelector", metric.get("selector")),
                                ("targetValue", t.get("value")), ("targetAverageValue", t.get("averageValue")))
    return out


def _metric_to_v2(m: Obj) -> Obj:
    typ = m.get("type")
    out: Obj = {"type": typ}
    if typ == "Object" and isinstance(m.get("object"), dict):
        s = m["object"]
        kind = "Value" if s.get("averageValue") is None else "AverageValue"
        out["object"] = _pick({}, ("describedObject", s.get("target")),
                              ("target", _pick({"type": kind}, ("value", s.get("targetValue")),
                                               ("averageValue", s.get("averageValue")))),
                              ("metric", _pick({}, ("name", s.get("metricName")), ("selector", s.get("selector")))))
    elif typ == "Pods" and isinstance(m.get("pods"), dict):
        s = m["pods"]
        out["pods"] = {"metric": _pick({}, ("name", s.get("metricName")), ("selector", s.get("selector"))),
                       "target": _pick({"type": "AverageValue"}, ("averageValue", s.get("targetAverageValue")))}
    elif typ in ("Resource", "ContainerResource"):
        key = "resource" if typ == "Resource" else "containerResource"
        s = m.get(key) or {}
        util = s.get("targetAverageUtilization")
        target = _pick({"type": "AverageValue" if util is None else "Utilization"},
                       ("averageValue", s.get("targetAverageValue")), ("averageUtilization", util))
        out[key] = _pick({}, ("name", s.get("name")), ("target", target), ("container", s.get("container")))
    elif typ == "External" and isinstance(m.get("external"), dict):
        s = m["external"]
        kind = "AverageValue" if s.get("targetValue") is None else "Value"
        out["external"] = {"metric": _pick({}, ("name", s.get("metricName")), ("selector", s.get("metricSelector"))),
                           "target": _pick({"type": kind}, ("value", s.get("targetValue")),
                                           ("averageValue", s.get("targetAverageValue")))}
    return out


def _status_to_v1(m: Obj) -> Obj:
    typ = m.get("type")
    out: Obj = {"type": typ}
    key = {"Object": "object", "Pods": "pods", "Resource": "resource",
           "ContainerResource": "containerResource", "External": "external"}.get(str(typ))
    s = m.get(key) if key else None
    if not isinstance(s, dict):
        return out
    cur, metric = s.get("current") or {}, s.get("metric") or {}
    if typ == "Object":
        out["object"] = _pick({}, ("target", s.get("describedObject")), ("metricName", metric.get("name")),
                              ("currentValue", cur.get("value")), ("selector", metric.get("selector")),
                              ("averageValue", cur.get("averageValue")))
    elif typ == "Pods":
        out["pods"] = _pick({}, ("metricName", metric.get("name")), ("currentAverageValue", cur.get("averageValue")),
                            ("selector", metric.get("selector")))
    elif typ in ("Resource", "ContainerResource"):
        out[str(key)] = _pick({}, ("name", s.get("name")), ("currentAverageUtilization", cur.get("averageUtilization")),
                              ("currentAverageValue", cur.get("averageValue")), ("container", s.get("container")))
    else:
        out["external"] = _pick({}, ("metricName", metric.get("name")), ("metricSelector", metric.get("selector")),
                                ("currentValue", cur.get("value")), ("currentAverageValue", cur.get("averageValue")))
    return out


def _status_to_v2(m: Obj) -> Obj:
    typ = m.get("type")
    out: Obj = {"type": typ}
    if typ == "Object" and isinstance(m.get("object"), dict):
        s = m["object"]
        out["object"] = _pick({}, ("metric", _pick({}, ("name", s.get("metricName")), ("selector", s.get("selector")))),
                              ("current", _pick({}, ("value", s.get("currentValue")),
                                                ("averageValue", s.get("averageValue")))),
                              ("describedObject", s.get("target")))
    elif typ == "Pods" and isinstance(m.get("pods"), dict):
        s = m["pods"]
        out["pods"] = {"metric": _pick({}, ("name", s.get("metricName")), ("selector", s.get("selector"))),
                       "current": _pick({}, ("averageValue", s.get("currentAverageValue")))}
    elif typ in ("Resource", "ContainerResource"):
        key = "resource" if typ == "Resource" else "containerResource"
        s = m.get(key) or {}
        cur = _pick({}, ("averageValue", s.get("currentAverageValue")),
                    ("averageUtilization", s.get("currentAverageUtilization")))
        out[key] = _pick({}, ("name", s.get("name")), ("current", cur), ("container", s.get("container")))
    elif typ == "External" and isinstance(m.get("external"), dict):
        s = m["external"]
        out["external"] = {"metric": _pick({}, ("name", s.get("metricName")), ("selector", s.get("metricSelector"))),
                           "current": _pick({}, ("value", s.get("currentValue")),
                                            ("averageValue", s.get("currentAverageValue")))}
    return out


def _is_cpu_resource(m: Any) -> bool:
    return (isinstance(m, dict) and m.get("type") == "Resource" and isinstance(m.get("resource"), dict)
            and m["resource"].get("name") == "cpu")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def hpa_v2_to_v1(obj: Obj) -> Obj:
    src = _copy(obj)
    meta = src.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ROUND_TRIP_ANNOTATIONS}
    spec, status = src.get("spec") or {}, src.get("status")
    metrics = spec.get("metrics") or []
    out_spec = _pick({}, ("scaleTargetRef", spec.get("scaleTargetRef")), ("minReplicas", spec.get("minReplicas")),
                     ("maxReplicas", spec.get("maxReplicas")))
    for m in metrics:
        if _is_cpu_resource(m):
            util = (m["resource"].get("target") or {}).get("averageUtilization")
            if util is not None:
                out_spec["targetCPUUtilizationPercentage"] = util
            break
    others = [_metric_to_v1(m) for m in metrics
              if not (_is_cpu_resource(m) and (m["resource"].get("target") or {}).get("averageUtilization") is not None)]
    if others:
        annotations[METRICS_ANNOTATION] = _json(others)
    if isinstance(spec.get("behavior"), dict):
        annotations[BEHAVIOR_ANNOTATION] = _json(spec["behavior"])
    out_status: Obj | None = None
    if isinstance(status, dict):
        out_status = _pick({}, ("observedGeneration", status.get("observedGeneration")),
                           ("lastScaleTime", status.get("lastScaleTime")),
                           ("currentReplicas", status.get("currentReplicas")),
                           ("desiredReplicas", status.get("desiredReplicas")))
        current = status.get("currentMetrics") or []
        for m in current:
            if _is_cpu_resource(m):
                util = (m["resource"].get("current") or {}).get("averageUtilization")
                if util is not None:
                    out_status["currentCPUUtilizationPercentage"] = util
        if current:
            annotations[CURRENT_METRICS_ANNOTATION] = _json([_status_to_v1(m) for m in current])
        if status.get("conditions"):
            annotations[CONDITIONS_ANNOTATION] = _json(status["conditions"])
    _set_annotations(meta, annotations)
    out: Obj = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": meta,
                "spec": out_spec}
    if out_status is not None:
        out["status"] = out_status
    return out


def _set_annotations(meta: Obj, annotations: Obj) -> None:
    """Store the converted annotations; an object that had only round-trip annotations loses
    the map, one that had an empty map keeps it (so conversions round-trip)."""
    original = meta.get("annotations")
    if annotations or (isinstance(original, dict) and not original):
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)


def _load_annotation(annotations: Obj, key: str) -> Any:
    raw = annotations.pop(key, None)
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def hpa_v1_to_v2(obj: Obj) -> Obj:
    src = _copy(obj)
    meta = src.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    spec, status = src.get("spec") or {}, src.get("status")
    out_spec = _pick({}, ("scaleTargetRef", spec.get("scaleTargetRef")), ("minReplicas", spec.get("minReplicas")),
                     ("maxReplicas", spec.get("maxReplicas")))
    metrics: list[Obj] = []
    others = _load_annotation(annotations, METRICS_ANNOTATION)
    if isinstance(others, list):
        metrics += [_metric_to_v2(m) for m in others if isinstance(m, dict)]
    cpu = spec.get("targetCPUUtilizationPercentage")
    if cpu is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": cpu}}})
    if not metrics:  # autoscaling/v1's implicit default, made explicit
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}})
    out_spec["metrics"] = metrics
    behavior = _load_annotation(annotations, BEHAVIOR_ANNOTATION)
    if isinstance(behavior, dict):
        out_spec["behavior"] = behavior
    current = _load_annotation(annotations, CURRENT_METRICS_ANNOTATION)
    conditions = _load_annotation(annotations, CONDITIONS_ANNOTATION)
    out_status: Obj | None = None
    if isinstance(status, dict):
        out_status = _pick({}, ("observedGeneration", status.get("observedGeneration")),
                           ("lastScaleTime", status.get("lastScaleTime")),
                           ("currentReplicas", status.get("currentReplicas")),
                           ("desiredReplicas", status.get("desiredReplicas")))
        if isinstance(current, list):
            out_status["currentMetrics"] = [_status_to_v2(m) for m in current if isinstance(m, dict)]
        elif status.get("currentCPUUtilizationPercentage") is not None:
            out_status["currentMetrics"] = [{"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
        if isinstance(conditions, list):
            out_status["conditions"] = conditions
    _set_annotations(meta, annotations)
    out: Obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
                "spec": out_spec}
    if out_status is not None:
        out["status"] = out_status
    return out


# ---- events: core/v1 <-> events.k8s.io/v1 ---------------------------------------------------
# core/v1 name -> events.k8s.io/v1 name; the other fields have the same name in both.
_EVENT_RENAMES = {
    "involvedObject": "regarding", "message": "note", "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp", "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount", "reportingComponent": "reportingController",
}
_CORE_EVENT_ORDER = ("metadata", "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp",
                     "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
                     "reportingInstance")
_EVENTS_V1_ORDER = ("metadata", "eventTime", "series", "reportingController", "reportingInstance", "action", "reason",
                    "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp",
                    "deprecatedLastTimestamp", "deprecatedCount")


def _rename(obj: Obj, renames: dict[str, str], order: tuple[str, ...], api_version: str) -> Obj:
    src = _copy(obj)
    body = {renames.get(k, k): v for k, v in src.items() if k not in ("apiVersion", "kind")}
    out: Obj = {"apiVersion": api_version, "kind": "Event"}
    for k in order:
        if k in body:
            out[k] = body.pop(k)
    out.update(body)  # unknown fields pass through
    return out


def event_core_to_v1(obj: Obj) -> Obj:
    return _rename(obj, _EVENT_RENAMES, _EVENTS_V1_ORDER, "events.k8s.io/v1")


def event_v1_to_core(obj: Obj) -> Obj:
    return _rename(obj, {v: k for k, v in _EVENT_RENAMES.items()}, _CORE_EVENT_ORDER, "v1")


_CONVERTERS: dict[tuple[str, str, str], Callable[[Obj], Obj]] = {
    ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2"): hpa_v1_to_v2,
    ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1"): hpa_v2_to_v1,
    ("Event", "v1", "events.k8s.io/v1"): event_core_to_v1,
    ("Event", "events.k8s.io/v1", "v1"): event_v1_to_core,
}


class ConversionError(ValueError):
    pass


def can_convert(kind: str, from_api_version: str, to_api_version: str) -> bool:
    return from_api_version == to_api_version or (kind, from_api_version, to_api_version) in _CONVERTERS


def convert(obj: Obj, to_api_version: str) -> Obj:
    """`obj` in `to_api_version` (a new dict; `obj` is not modified). Same version: `obj` itself."""
    from_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    if from_version == to_api_version:
        return obj
    fn = _CONVERTERS.get((kind, from_version, to_api_version))
    if fn is None:
        raise ConversionError(f"no conversion for {kind} from {from_version} to {to_api_version}")
    return fn(obj)
