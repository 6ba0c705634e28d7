"""The HPA's arithmetic against upstream's replica_calculator_test.go / horizontal_test.go cases."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.controllers.podautoscaler_behavior import History, with_behavior, without_behavior
from tugboat.controllers.podautoscaler_calc import MetricsError, Sample, plain_replicas, resource_replicas
from tugboat.util.clock import rfc3339

NOW = 1_700_000_000.0
LONG_AGO = rfc3339(NOW - 3600)


def pod(name: str, cpu_request: str | None = "1", ready: bool = True, phase: str = "Running",
        started: str = LONG_AGO, ready_since: str = LONG_AGO) -> dict[str, Any]:
    res = {"requests": {"cpu": cpu_request}} if cpu_request else {}
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "resources": res}]},
            "status": {"phase": phase, "startTime": started, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_since}]}}


def samples(**milli: int) -> dict[str, Sample]:
    return {k: Sample(v, NOW - 5, 15.0) for k, v in milli.items()}


def test_scale_up():
    pods = [pod("a"), pod("b"), pod("c")]
    assert resource_replicas(3, 30, "cpu", "", pods, samples(a=300, b=500, c=700), NOW) == (5, 50, 500)


def test_scale_down():
    pods = [pod(n) for n in "abcde"]
    got = resource_replicas(5, 50, "cpu", "", pods, samples(a=100, b=300, c=500, d=250, e=250), NOW)
    assert got[:2] == (3, 28)


def test_within_tolerance_keeps_replicas():
    pods = [pod("a"), pod("b"), pod("c")]
    assert resource_replicas(3, 100, "cpu", "", pods, samples(a=1010, b=1030, c=1020), NOW)[0] == 3


def test_unready_pod_counts_as_zero_when_scaling_up():
    pods = [pod("a", ready=False, ready_since=rfc3339(NOW - 10), started=rfc3339(NOW - 20)), pod("b"), pod("c")]
    desired, util, _ = resource_replicas(3, 30, "cpu", "", pods, samples(a=300, b=500, c=700), NOW)
    assert (desired, util) == (4, 60)


def test_pending_pods_do_not_count_when_scaling_down():
    pods = [pod("a"), pod("b"), pod("c", phase="Pending")]
    # ready pods at 10 %: scale down to ceil(0.1/0.5*2) = 1... but the pending pod is unready, not missing
    assert resource_replicas(3, 50, "cpu", "", pods, samples(a=100, b=100), NOW)[0] == 1


def test_missing_metrics_would_flip_direction_so_no_change():
    pods = [pod("a"), pod("b")]
    assert resource_replicas(2, 100, "cpu", "", pods, samples(a=1900), NOW)[0] == 2


def test_missing_metrics_scale_down_assumes_full_usage():
    pods = [pod(n) for n in "abcd"]
    # a, b at 10 %; c, d missing → taken as 100 % of request: (100+100+1000+1000)/4000 = 55 % of 100 %
    assert resource_replicas(4, 100, "cpu", "", pods, samples(a=100, b=100), NOW)[0] == 3


def test_deleted_and_failed_pods_are_ignored():
    gone = pod("b")
    gone["metadata"]["deletionTimestamp"] = LONG_AGO
    pods = [pod("a"), gone, pod("c", phase="Failed")]
    assert resource_replicas(3, 50, "cpu", "", pods, samples(a=1000, b=0, c=0), NOW)[0] == 2


def test_missing_request_is_an_error_users_can_read():
    with pytest.raises(MetricsError, match="missing request for cpu in container c of Pod a"):
        resource_replicas(1, 50, "cpu", "", [pod("a", cpu_request=None)], samples(a=10), NOW)


def test_average_value_target():
    pods = [pod("a"), pod("b")]
    assert plain_replicas(2, 200, "cpu", pods, samples(a=400, b=400), NOW) == (4, 400)


def test_no_behavior_scale_down_is_stabilized_for_five_minutes():
    h = History()
    h.initial(5, NOW - 60)
    r = without_behavior(h, 5, 2, 1, 10, NOW)
    assert r.replicas == 5 and r.stabilized_reason == "ScaleDownStabilized"
    r = without_behavior(h, 5, 2, 1, 10, NOW + 301)
    assert r.replicas == 2 and r.stabilized_reason == "ReadyForNewScale"


def test_no_behavior_scale_up_at_most_doubles():
    h = History()
    h.initial(3, NOW)
    r = without_behavior(h, 3, 50, 1, 20, NOW)
    assert (r.replicas, r.limited, r.reason) == (6, True, "ScaleUpLimit")
    r = without_behavior(History(), 3, 50, 1, 5, NOW)
    assert (r.replicas, r.reason) == (5, "TooManyReplicas")
    r = without_behavior(History(), 3, 0, 2, 5, NOW)
    assert (r.replicas, r.reason) == (2, "TooFewReplicas")


DEFAULT_BEHAVIOR = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                             {"type": "Percent", "value": 100, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                  "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_behavior_default_scale_up_rate():
    h = History()
    r = with_behavior(h, DEFAULT_BEHAVIOR, 10, 100, 1, 1000, NOW)
    assert (r.replicas, r.reason) == (20, "ScaleUpLimit")  # max(10+4, 10*2)
    h.record_scale(DEFAULT_BEHAVIOR, 10, 20, NOW)
    # within the same 15 s period the start of the period was 10: still at most 20
    assert with_behavior(h, DEFAULT_BEHAVIOR, 20, 100, 1, 1000, NOW + 5).replicas == 20
    assert with_behavior(h, DEFAULT_BEHAVIOR, 20, 100, 1, 1000, NOW + 16).replicas == 40


def test_behavior_pods_policy_one_per_minute():
    b = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                     "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
         "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Disabled", "policies": []}}
    h = History()
    assert with_behavior(h, b, 2, 9, 1, 10, NOW).replicas == 3
    h.record_scale(b, 2, 3, NOW)
    assert with_behavior(h, b, 3, 9, 1, 10, NOW + 30).replicas == 3
    assert with_behavior(h, b, 3, 9, 1, 10, NOW + 61).replicas == 4
    assert with_behavior(h, b, 4, 1, 1, 10, NOW + 62).replicas == 4  # scale-down disabled


def test_behavior_down_stabilization_window():
    h = History()
    with_behavior(h, DEFAULT_BEHAVIOR, 6, 6, 1, 10, NOW)
    r = with_behavior(h, DEFAULT_BEHAVIOR, 6, 2, 1, 10, NOW + 60)
    assert (r.replicas, r.stabilized_reason) == (6, "ScaleDownStabilized")
    assert with_behavior(h, DEFAULT_BEHAVIOR, 6, 2, 1, 10, NOW + 301).replicas == 2
