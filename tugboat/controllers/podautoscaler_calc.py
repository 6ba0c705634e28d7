"""How many replicas a resource metric asks for: upstream's replica calculator, pure functions.

Why pure: the HPA's arithmetic is where users notice differences from upstream (a replica too
many after a deploy, no scale-up while pods start), so it is written once here, with the same
rules as upstream 1.32 `pkg/controller/podautoscaler/replica_calculator.go`, and unit-tested
without an API server:
* pods being deleted or Failed are ignored; Pending pods count as unready;
* for CPU, a pod is unready when it has no Ready condition or start time, or (within the
  5-minute CPU initialization period) is not Ready or its sample predates its last readiness
  change by less than one metric window, or (after it) was never Ready within 30 s of start;
* pods without a sample are "missing": assumed at 100 % of target when scaling down and 0 %
  when scaling up; unready pods count as 0 % when scaling up; if that flips the direction or
  lands within the tolerance (10 %), the replica count stays as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tugboat.api.quantity import milli_value
from tugboat.util.clock import parse_rfc3339

Obj = dict[str, Any]
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0


class MetricsError(Exception):
    """The replica count cannot be computed from this metric (the message goes into events)."""


@dataclass(frozen=True)
class Sample:
    """One pod's usage of a resource in milli-units, with when and over what window it was taken."""

    value: int
    timestamp: float
    window: float


@dataclass(frozen=True)
class Settings:
    tolerance: float = TOLERANCE
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD
    initial_readiness_delay: float = INITIAL_READINESS_DELAY


def _ready_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c  # type: ignore[no-any-return]
    return None


def _cpu_unready(pod: Obj, sample: Sample, now: float, s: Settings) -> bool:
    cond = _ready_condition(pod)
    start = (pod.get("status") or {}).get("startTime")
    if cond is None or not start:
        return True
    started = parse_rfc3339(start)
    changed = parse_rfc3339(cond["lastTransitionTime"]) if cond.get("lastTransitionTime") else started
    if started + s.cpu_initialization_period > now:
        return cond.get("status") == "False" or sample.timestamp < changed + sample.window
    return cond.get("status") == "False" and started + s.initial_readiness_delay > changed


def group_pods(pods: list[Obj], samples: Mapping[str, Sample], resource: str, now: float,
               s: Settings) -> tuple[int, set[str], set[str], set[str]]:
    """(ready pod count, unready, missing, ignored) as upstream's groupPods."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
            continue
        if phase == "Pending":
            unready.add(name)
            continue
        sample = samples.get(name)
        if sample is None:
            missing.add(name)
            continue
        if resource == "cpu" and _cpu_unready(pod, sample, now, s):
            unready.add(name)
            continue
        ready += 1
    return ready, unready, missing, ignored


def _containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    return [*(spec.get("containers") or ()), *sidecars]


def pod_requests(pods: list[Obj], container: str, resource: str) -> dict[str, int]:
    """Milli-unit requests of `resource` per pod (one container when `container` is set)."""
    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in _containers(pod):
            if container and c.get("name") != container:
                continue
            req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if req is None:
                raise MetricsError(f"missing request for {resource} in container {c.get('name')} "
                                   f"of Pod {pod['metadata']['name']}")
            total += milli_value(req)
        out[pod["metadata"]["name"]] = total
    return out


def utilization_ratio(values: Mapping[str, int], requests: Mapping[str, int],
                      target: int) -> tuple[float, int, int]:
    """(usage ratio, utilization %, average raw milli-usage) over pods that have a request."""
    used = total_req = n = 0
    for name, v in values.items():
        if name in requests:
            used += v
            total_req += requests[name]
            n += 1
    if total_req == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = used * 100 // total_req
    return utilization / target, utilization, used // n


def _adjust(ratio0: float, values: dict[str, int], unready: set[str], missing: set[str],
            fill: int | Mapping[str, int]) -> None:
    """Fill in missing pods (fill when scaling down, 0 when up) and unready pods (0 when up)."""
    for name in missing:
        if ratio0 < 1.0:
            values[name] = fill if isinstance(fill, int) else fill[name]
        elif ratio0 > 1.0:
            values[name] = 0
    if unready and ratio0 > 1.0:
        for name in unready:
            values[name] = 0


def resource_replicas(current: int, target_utilization: int, resource: str, container: str, pods: list[Obj],
                      samples: Mapping[str, Sample], now: float, s: Settings = Settings()) -> tuple[int, int, int]:
    """(desired replicas, utilization %, average milli-usage) for a Utilization target."""
    if not pods:
        raise MetricsError("No pods found by selector")
    ready, unready, missing, ignored = group_pods(pods, samples, resource, now, s)
    values = {n: v.value for n, v in samples.items() if n not in ignored and n not in unready}
    requests = pod_requests(pods, container, resource)
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, utilization, raw = utilization_ratio(values, requests, target_utilization)
    scale_up_unready = bool(unready) and ratio > 1.0
    if not scale_up_unready and not missing:
        if abs(1.0 - ratio) <= s.tolerance:
            return current, utilization, raw
        return math.ceil(ratio * ready), utilization, raw
    fill = {n: requests.get(n, 0) * max(100, target_utilization) // 100 for n in missing}
    _adjust(ratio, values, unready if scale_up_unready else set(), missing, fill)
    new_ratio, _, _ = utilization_ratio(values, requests, target_utilization)
    if abs(1.0 - new_ratio) <= s.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, utilization, raw
    desired = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and desired > current) or (new_ratio > 1.0 and desired < current):
        return current, utilization, raw
    return desired, utilization, raw


def plain_replicas(current: int, target_value: int, resource: str, pods: list[Obj], samples: Mapping[str, Sample],
                   now: float, s: Settings = Settings()) -> tuple[int, int]:
    """(desired replicas, average milli-usage) for an AverageValue target (no requests needed)."""
    if not pods:
        raise MetricsError("No pods found by selector")
    ready, unready, missing, ignored = group_pods(pods, samples, resource, now, s)
    values = {n: v.value for n, v in samples.items() if n not in ignored and n not in unready}
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    raw = sum(values.values()) // len(values)
    ratio = raw / target_value
    scale_up_unready = bool(unready) and ratio > 1.0
    if not scale_up_unready and not missing:
        if abs(1.0 - ratio) <= s.tolerance:
            return current, raw
        return math.ceil(ratio * ready), raw
    _adjust(ratio, values, unready if scale_up_unready else set(), missing, target_value)
    new_ratio = sum(values.values()) / len(values) / target_value
    if abs(1.0 - new_ratio) <= s.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, raw
    desired = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and desired > current) or (new_ratio > 1.0 and desired < current):
        return current, raw
    return desired, raw
