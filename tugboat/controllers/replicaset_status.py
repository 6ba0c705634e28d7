"""ReplicaSet/ReplicationController status and scale-down victim order (replica_set_utils.go).

Kept apart from the controller loop because both are pure functions of (owner, pods, now):
easy to table-test, and the Deployment controller's view of availability depends on
exactly these numbers.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.selectors import selector_from_set
from tugboat.controllers.podcontrol import (
    creation_time,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    ready_since,
)
from tugboat.util.clock import rfc3339

Obj = dict[str, Any]
REPLICA_FAILURE = "ReplicaFailure"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def calculate_status(owner: Obj, pods: list[Obj], manage_err: BaseException | None, scale_up: bool,
                     now: float) -> Obj:
    """The status the owner should have given the pods it controls (active ones)."""
    spec = owner.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    tsel = selector_from_set(template_labels)
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully = ready = available = 0
    for p in pods:
        if tsel.matches((p.get("metadata") or {}).get("labels") or {}):
            fully += 1
        if is_pod_ready(p):
            ready += 1
            if is_pod_available(p, min_ready, now):
                available += 1
    old = owner.get("status") or {}
    conditions = [dict(c) for c in old.get("conditions") or ()]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_err is not None and failure is None:
        conditions.append({"type": REPLICA_FAILURE, "status": "True",
                           "reason": "FailedCreate" if scale_up else "FailedDelete",
                           "message": str(manage_err), "lastTransitionTime": rfc3339(now)})
    elif manage_err is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    status: Obj = {"replicas": len(pods)}
    # Go's omitempty: zero counts are left out, as upstream's JSON shows.
    for k, v in (("fullyLabeledReplicas", fully), ("readyReplicas", ready), ("availableReplicas", available),
                 ("observedGeneration", (owner.get("metadata") or {}).get("generation") or 0)):
        if v:
            status[k] = v
    if conditions:
        status["conditions"] = conditions
    return status


def _int_annotation(pod: Obj, key: str) -> int:
    try:
        return int(((pod.get("metadata") or {}).get("annotations") or {}).get(key, 0))
    except (TypeError, ValueError):
        return 0


def _restarts(pod: Obj) -> int:
    return max((int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def pods_to_delete(pods: list[Obj], related: list[Obj], n: int) -> list[Obj]:
    """The first `n` pods in upstream's deletion preference (ActivePodsWithRanks):
    unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; lower
    pod-deletion-cost first; more related pods on the same node first; ready more recently
    first; more restarts first; newer first."""
    if n >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            node = (p.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1

    def key(p: Obj) -> tuple[Any, ...]:
        node = (p.get("spec") or {}).get("nodeName") or ""
        ready = is_pod_ready(p)
        rt = ready_since(p) if ready else None
        ct = creation_time(p)
        return (1 if node else 0, _PHASE_ORDER.get((p.get("status") or {}).get("phase") or "", 0),
                1 if ready else 0, _int_annotation(p, DELETION_COST), -on_node.get(node, 0),
                (0, 0.0) if not rt else (1, -rt), -_restarts(p), (0, 0.0) if not ct else (1, -ct))

    return sorted(pods, key=key)[:n]


def requeue_for_availability(owner: Obj, status: Obj) -> float | None:
    """Re-check after minReadySeconds while ready pods are not yet available."""
    mrs = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
    if mrs > 0 and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
        return float(mrs)
    return None

