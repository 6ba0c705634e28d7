"""From "the metrics want N replicas" to "scale to M now": stabilization and rate limits.

Upstream 1.32 has two paths and so do we. Without `spec.behavior` (the v2 default leaves it
unset): the highest recommendation of the last 5 minutes wins when scaling down, and one step
may at most double the replicas (or reach 4). With `spec.behavior`: per-direction
stabilization windows (up: lowest recent recommendation, down: highest) and rate policies
(Pods / Percent per period, selectPolicy Max / Min / Disabled) computed over the scale events
of each policy's period. Each result comes with the condition reason and message upstream
puts on `AbleToScale` and `ScalingLimited`, since `kubectl describe hpa` shows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
DOWNSCALE_STABILIZATION = 300.0
SCALE_UP_FACTOR = 2.0
SCALE_UP_MINIMUM = 4
_INT32_MAX = 2**31 - 1
_INT32_MIN = -(2**31)


@dataclass
class Limited:
    replicas: int
    stabilized_reason: str  # AbleToScale reason
    stabilized_message: str
    limited: bool  # ScalingLimited status
    reason: str
    message: str


@dataclass
class _Rec:
    replicas: int
    at: float


@dataclass
class _Event:
    change: int  # replicas added (up) or removed (down)
    at: float
    outdated: bool = False


@dataclass
class History:
    """What one HPA's controller remembers between syncs (upstream keeps the same in memory)."""

    recommendations: list[_Rec] = field(default_factory=list)
    up_events: list[_Event] = field(default_factory=list)
    down_events: list[_Event] = field(default_factory=list)

    def initial(self, current: int, now: float) -> None:
        if not self.recommendations:
            self.recommendations.append(_Rec(current, now))

    def record_scale(self, behavior: Obj | None, prev: int, new: int, now: float) -> None:
        if behavior is None or prev == new:
            return
        if new > prev:
            longest = _longest_period(behavior.get("scaleUp"))
            _mark_outdated(self.up_events, now, longest)
            self.up_events.append(_Event(new - prev, now))
        else:
            longest = _longest_period(behavior.get("scaleDown"))
            _mark_outdated(self.down_events, now, longest)
            self.down_events.append(_Event(prev - new, now))


def _longest_period(rules: Obj | None) -> float:
    return float(max((p.get("periodSeconds", 0) for p in (rules or {}).get("policies") or ()), default=0))


def _mark_outdated(events: list[_Event], now: float, longest: float) -> None:
    events[:] = [e for e in events if e.at > now - longest]


def _change_in_period(events: list[_Event], period: float, now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def _bounds(current: int, desired: int, minimum: int, maximum: int) -> tuple[int, bool, str, str]:
    limit = max(int(SCALE_UP_FACTOR * current), SCALE_UP_MINIMUM)
    if maximum > limit:
        max_allowed, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
    else:
        max_allowed, reason, msg = maximum, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
    if desired < minimum:
        return minimum, True, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    if desired > max_allowed:
        return max_allowed, True, reason, msg
    return desired, False, "DesiredWithinRange", "the desired count is within the acceptable range"


def without_behavior(h: History, current: int, desired: int, minimum: int, maximum: int, now: float,
                     window: float = DOWNSCALE_STABILIZATION) -> Limited:
    """Upstream's normalizeDesiredReplicas: 5-minute down-scale stabilization, ×2 up-scale cap."""
    highest = desired
    old_index = -1
    for i, rec in enumerate(h.recommendations):
        if rec.at < now - window:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    if old_index >= 0:
        h.recommendations[old_index] = _Rec(desired, now)
    else:
        h.recommendations.append(_Rec(desired, now))
    if highest != desired:
        sr, sm = "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
    else:
        sr, sm = "ReadyForNewScale", "recommended size matches current size"
    replicas, limited, reason, msg = _bounds(current, highest, minimum, maximum)
    return Limited(replicas, sr, sm, limited and replicas != highest, reason, msg)


def _stabilize(h: History, behavior: Obj, current: int, desired: int, now: float) -> tuple[int, str, str]:
    up_cut = now - (behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds", 0)
    down_cut = now - (behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds", DOWNSCALE_STABILIZATION)
    up, down, old_index = desired, desired, -1
    for i, rec in enumerate(h.recommendations):
        if rec.at > up_cut:
            up = min(up, rec.replicas)
        if rec.at > down_cut:
            down = max(down, rec.replicas)
        if rec.at < up_cut and rec.at < down_cut:
            old_index = i
    result = min(max(current, up), down)
    # Keep the raw recommendation, reusing a sample that is outside both windows.
    if old_index >= 0:
        h.recommendations[old_index] = _Rec(desired, now)
    else:
        h.recommendations.append(_Rec(desired, now))
    if desired >= current:
        return result, "ScaleUpStabilized", \
            "recent recommendations were lower than current one, applying the lowest recent recommendation"
    return result, "ScaleDownStabilized", \
        "recent recommendations were higher than current one, applying the highest recent recommendation"


def _period_start(h: History, current: int, period: float, now: float) -> int:
    return current - _change_in_period(h.up_events, period, now) + _change_in_period(h.down_events, period, now)


def _up_limit(h: History, current: int, rules: Obj, now: float) -> int:
    policy = rules.get("selectPolicy", "Max")
    if policy == "Disabled":
        return current
    pick, result = (min, _INT32_MAX) if policy == "Min" else (max, _INT32_MIN)
    for p in rules.get("policies") or ():
        start = _period_start(h, current, p.get("periodSeconds", 0), now)
        proposed = start + p["value"] if p.get("type") == "Pods" else math.ceil(start * (1 + p["value"] / 100))
        result = pick(result, proposed)
    return result


def _down_limit(h: History, current: int, rules: Obj, now: float) -> int:
    policy = rules.get("selectPolicy", "Max")
    if policy == "Disabled":
        return current
    pick, result = (max, _INT32_MIN) if policy == "Min" else (min, _INT32_MAX)
    for p in rules.get("policies") or ():
        start = _period_start(h, current, p.get("periodSeconds", 0), now)
        proposed = start - p["value"] if p.get("type") == "Pods" else int(start * (1 - p["value"] / 100))
        result = pick(result, proposed)
    return result


def with_behavior(h: History, behavior: Obj, current: int, desired: int, minimum: int, maximum: int,
                  now: float) -> Limited:
    """Upstream's normalizeDesiredReplicasWithBehaviors."""
    stabilized, sr, sm = _stabilize(h, behavior, current, desired, now)
    if stabilized == desired:
        sr, sm = "ReadyForNewScale", "recommended size matches current size"
    if stabilized > current:
        limit = max(_up_limit(h, current, behavior.get("scaleUp") or {}, now), current)
        if maximum > limit:
            top, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
        else:
            top, reason, msg = maximum, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
        if stabilized > top:
            return Limited(top, sr, sm, True, reason, msg)
    elif stabilized < current:
        limit = min(_down_limit(h, current, behavior.get("scaleDown") or {}, now), current)
        if minimum < limit:
            bottom, reason, msg = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            bottom, reason, msg = minimum, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
        if stabilized < bottom:
            return Limited(bottom, sr, sm, True, reason, msg)
    return Limited(stabilized, sr, sm, False, "DesiredWithinRange", "the desired count is within the acceptable range")
