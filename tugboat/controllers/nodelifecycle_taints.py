"""Pure helpers for node health: taint keys, toleration matching, node conditions, zones.

Shared by the node lifecycle controller (which taints nodes) and the taint eviction controller
(which deletes pods that do not tolerate NoExecute taints). No I/O here, so the rules that
decide when a pod dies are unit-testable on plain dicts.

Facts copied from upstream 1.32 (k8s.io/api/core/v1 well_known_taints.go,
pkg/controller/nodelifecycle, component-helpers/scheduling/corev1 taint matching).
"""

from __future__ import annotations

from typing import Any

from tugboat.util.clock import parse_rfc3339

Obj = dict[str, Any]

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"

# Condition type → (status that taints, taint key): upstream's nodeConditionToTaintKeyStatusMap.
CONDITION_TAINTS: tuple[tuple[str, str, str], ...] = (
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
)
NO_SCHEDULE_KEYS = frozenset({k for _, _, k in CONDITION_TAINTS} | {TAINT_UNSCHEDULABLE})
NO_EXECUTE_KEYS = frozenset({TAINT_NOT_READY, TAINT_UNREACHABLE})

# Conditions the controller sets to Unknown when the kubelet goes silent.
MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

NODE_NAME_INDEX = "spec.nodeName"


def node_name_index(obj: Obj) -> list[str]:
    """Informer index: pods by the node they are bound to."""
    n = (obj.get("spec") or {}).get("nodeName")
    return [n] if n else []


ZONE_NORMAL = "Normal"
ZONE_PARTIAL = "PartialDisruption"
ZONE_FULL = "FullDisruption"


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c  # type: ignore[no-any-return]
    return None


def ready_status(node: Obj) -> str:
    """"True", "False" or "Unknown" (a node that never reported counts as Unknown)."""
    c = condition(node, "Ready")
    return str(c.get("status") or "Unknown") if c else "Unknown"


def taints(node: Obj) -> list[Obj]:
    return list((node.get("spec") or {}).get("taints") or ())


def condition_no_schedule_keys(node: Obj) -> set[str]:
    """The NoSchedule taint keys a node's conditions and spec.unschedulable call for."""
    want = set()
    for ctype, status, key in CONDITION_TAINTS:
        c = condition(node, ctype)
        if c is not None and c.get("status") == status:
            want.add(key)
    if (node.get("spec") or {}).get("unschedulable"):
        want.add(TAINT_UNSCHEDULABLE)
    return want


def tolerates(tol: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (tol.get("value") or "") == (taint.get("value") or "")
    return False


def matching_tolerations(taint_list: list[Obj], tolerations: list[Obj]) -> list[Obj] | None:
    """All tolerations matching some taint, or None when one taint is tolerated by none."""
    out: list[Obj] = []
    for t in taint_list:
        m = [tol for tol in tolerations if tolerates(tol, t)]
        if not m:
            return None
        out.extend(m)
    return out


def min_toleration_seconds(tolerations: list[Obj]) -> float:
    """Seconds until eviction; -1 means forever (no toleration has tolerationSeconds)."""
    best = -1.0
    for tol in tolerations:
        s = tol.get("tolerationSeconds")
        if s is None:
            continue
        if s <= 0:
            return 0.0
        if best < 0 or s < best:
            best = float(s)
    return best


def taint_time(taint: Obj) -> float | None:
    ts = taint.get("timeAdded")
    if not ts:
        return None
    try:
        return parse_rfc3339(ts)
    except ValueError:
        return None


def zone_of(node: Obj) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    return f"{region}:\x00:{zone}"


def zone_state(ready: int, not_ready: int, unhealthy_threshold: float = 0.55) -> str:
    """ComputeZoneState: Full when nothing is ready, Partial when > 2 and >= 55 % are not."""
    if ready == 0 and not_ready > 0:
        return ZONE_FULL
    if not_ready > 2 and not_ready / (ready + not_ready) >= unhealthy_threshold:
        return ZONE_PARTIAL
    return ZONE_NORMAL
