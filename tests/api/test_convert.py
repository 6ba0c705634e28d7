"""Version conversion: autoscaling v1 <-> v2 and core/v1 <-> events.k8s.io/v1 Events."""

from __future__ import annotations

import orjson
import pytest

from tugboat.api.convert import (
    CONDITIONS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    METRICS_ANNOTATION,
    ConversionError,
    convert,
)

META = {"name": "web", "namespace": "default"}
REF = {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}


def hpa_v1(**spec):
    return {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": dict(META),
            "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 5, **spec}}


def cpu(util):
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": util}}}


def test_identity_when_versions_match():
    o = hpa_v1()
    assert convert(o, "autoscaling/v1") is o


def test_v1_cpu_target_becomes_resource_metric():
    v2 = convert(hpa_v1(targetCPUUtilizationPercentage=50), "autoscaling/v2")
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [cpu(50)]
    assert "targetCPUUtilizationPercentage" not in v2["spec"]


def test_v1_without_target_gets_explicit_default_80():
    v2 = convert(hpa_v1(), "autoscaling/v2")
    assert v2["spec"]["metrics"] == [cpu(80)]
    assert convert(v2, "autoscaling/v1")["spec"]["targetCPUUtilizationPercentage"] == 80


def test_v2_other_metrics_ride_in_annotation_and_round_trip():
    mem = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}
    pods = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
    ext = {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "a"}}},
                                            "target": {"type": "Value", "value": "30"}}}
    obj_metric = {"type": "Object", "object": {"describedObject": REF, "metric": {"name": "hits"},
                                               "target": {"type": "Value", "value": "2k"}}}
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                              "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    v2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
          "metadata": {**META, "annotations": {"keep": "me"}},
          "spec": {"scaleTargetRef": REF, "minReplicas": 2, "maxReplicas": 9,
                   "metrics": [mem, pods, ext, obj_metric, cpu(70)], "behavior": behavior},
          "status": {"currentReplicas": 2, "desiredReplicas": 3,
                     "currentMetrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "current": {"averageValue": "120m", "averageUtilization": 60}}}],
                     "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                                     "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}
    v1 = convert(v2, "autoscaling/v1")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 70
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 60}
    ann = v1["metadata"]["annotations"]
    assert ann["keep"] == "me"
    others = orjson.loads(ann[METRICS_ANNOTATION])
    assert others[0] == {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}
    assert others[1] == {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}
    assert orjson.loads(ann[CURRENT_METRICS_ANNOTATION]) == [
        {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 60, "currentAverageValue": "120m"}}]
    assert orjson.loads(ann[CONDITIONS_ANNOTATION])[0]["type"] == "AbleToScale"
    back = convert(v1, "autoscaling/v2")
    for a, b in zip(back["spec"]["metrics"], v2["spec"]["metrics"], strict=True):
        assert a == b, (a, b)
    assert back == v2
    assert v2["spec"]["metrics"][-1] == cpu(70)  # input untouched


def test_stale_round_trip_annotations_are_dropped():
    v2 = convert(hpa_v1(targetCPUUtilizationPercentage=50), "autoscaling/v2")
    v2["metadata"]["annotations"] = {METRICS_ANNOTATION: "[]", "other": "x"}
    v1 = convert(v2, "autoscaling/v1")
    assert v1["metadata"]["annotations"] == {"other": "x"}


def test_v1_round_trip():
    v1 = hpa_v1(targetCPUUtilizationPercentage=50)
    assert convert(convert(v1, "autoscaling/v2"), "autoscaling/v1") == v1
    # As upstream, a v1 status read back also records the current metrics in an annotation.
    v1["status"] = {"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 12}
    back = convert(convert(v1, "autoscaling/v2"), "autoscaling/v1")
    assert back["spec"] == v1["spec"] and back["status"] == v1["status"]
    assert CURRENT_METRICS_ANNOTATION in back["metadata"]["annotations"]
    assert convert(convert(back, "autoscaling/v2"), "autoscaling/v1") == back


CORE_EVENT = {
    "apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1"},
    "reason": "Started", "message": "Started container", "source": {"component": "kubelet", "host": "n1"},
    "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:05Z", "count": 3,
    "type": "Normal", "eventTime": None, "reportingComponent": "kubelet", "reportingInstance": "n1",
    "series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:05.000000Z"}, "action": "Start",
    "related": {"kind": "Node", "name": "n1"},
}


def test_core_event_to_events_v1():
    ev = convert(CORE_EVENT, "events.k8s.io/v1")
    assert ev["apiVersion"] == "events.k8s.io/v1"
    assert ev["regarding"] == CORE_EVENT["involvedObject"]
    assert ev["note"] == "Started container"
    assert ev["deprecatedSource"] == {"component": "kubelet", "host": "n1"}
    assert (ev["deprecatedFirstTimestamp"], ev["deprecatedLastTimestamp"], ev["deprecatedCount"]) == (
        "2024-01-01T00:00:00Z", "2024-01-01T00:00:05Z", 3)
    assert ev["reportingController"] == "kubelet" and ev["reportingInstance"] == "n1"
    assert ev["series"] == CORE_EVENT["series"] and ev["action"] == "Start" and ev["related"]["kind"] == "Node"
    for old in ("involvedObject", "message", "source", "count", "reportingComponent"):
        assert old not in ev
    assert list(ev)[:4] == ["apiVersion", "kind", "metadata", "eventTime"]


def test_event_round_trip_both_ways():
    assert convert(convert(CORE_EVENT, "events.k8s.io/v1"), "v1") == CORE_EVENT
    new_style = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "x", "namespace": "d"},
                 "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "c", "reportingInstance": "i",
                 "action": "A", "reason": "R", "regarding": {"kind": "Pod", "name": "p"}, "note": "n",
                 "type": "Warning", "unknownField": 1}
    core = convert(new_style, "v1")
    assert core["message"] == "n" and core["involvedObject"]["name"] == "p" and core["reportingComponent"] == "c"
    assert convert(core, "events.k8s.io/v1") == new_style


def test_unknown_conversion_raises():
    with pytest.raises(ConversionError):
        convert({"apiVersion": "apps/v1", "kind": "Deployment"}, "apps/v2")
