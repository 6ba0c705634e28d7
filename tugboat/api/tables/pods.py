"""Pod and PodTemplate rows: READY, STATUS and RESTARTS computed like upstream's printPod.

STATUS is the single most-read cell in Kubernetes; its derivation (init containers, sidecars,
waiting/terminated reasons, Completed-but-still-running, Terminating, SchedulingGated) follows
printers.go step by step so `kubectl get pods` reads the same as on a real cluster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..selectors import format_labels
from .util import (
    AGE,
    NAME,
    PRINTERS,
    Cells,
    Column,
    D,
    Obj,
    Printer,
    age,
    containers_cells,
    dig,
    name,
    parse_time,
    printer,
    since,
)

POD_COLUMNS = [
    NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been restarted "
                                   "and when the last container in this pod has restarted."),
    AGE,
    Column("IP", description=D("core.v1.PodStatus", "podIP"), priority=1),
    Column("Node", description=D("core.v1.PodSpec", "nodeName"), priority=1),
    Column("Nominated Node", description=D("core.v1.PodStatus", "nominatedNodeName"), priority=1),
    Column("Readiness Gates", description=D("core.v1.PodSpec", "readinessGates"), priority=1),
]


def _has_condition(conds: Any, ctype: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == ctype and c.get("status") == "True"
               for c in conds or [])


def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _later(a: datetime | None, finished: Any) -> datetime | None:
    t = parse_time(finished)
    if t is None:
        return a
    return t if a is None or t > a else a


def pod_status(pod: Obj) -> tuple[str, int, int, int, datetime | None]:
    """(STATUS, ready containers, total containers, restarts, last restart time)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase", "") or ""
    reason = status.get("reason") or phase
    conds = status.get("conditions") or []
    for c in conds:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecar = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(sidecar)
    ready = restarts = sidecar_restarts = 0
    last: datetime | None = None
    sidecar_last: datetime | None = None
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last = _later(last, dig(cs, "lastState", "terminated", "finishedAt"))
        is_sidecar = cs.get("name") in sidecar
        if is_sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            sidecar_last = _later(sidecar_last, dig(cs, "lastState", "terminated", "finishedAt"))
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif wait is not None and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or _has_condition(conds, "Initialized"):
        restarts, last = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last = _later(last, dig(cs, "lastState", "terminated", "finishedAt"))
            state = cs.get("state") or {}
            wait, term = state.get("waiting"), state.get("terminated")
            if wait is not None and wait.get("reason"):
                reason = wait["reason"]
            elif term is not None:
                reason = _terminated_reason(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(conds, "Ready") else "NotReady"
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last


def pod_cells(pod: Obj, now: datetime) -> Cells:
    reason, ready, total, restarts, last = pod_status(pod)
    restarts_s = str(restarts)
    if restarts and last is not None:
        restarts_s = f"{restarts} ({since(last.isoformat(), now)} ago)"
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ip = dig(status, "podIPs", 0, "ip") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_s = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in reversed(status.get("conditions") or [])}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_s = f"{ok}/{len(gates)}"
    return [name(pod), f"{ready}/{total}", reason, restarts_s, age(pod, now), ip,
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_s]


def pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = dig(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


PRINTERS[("", "Pod")] = Printer(tuple(POD_COLUMNS), pod_cells, pod_conditions)


@printer("", "PodTemplate", [
    NAME,
    Column("Containers", description="Names of each container in the template."),
    Column("Images", description="Images referenced by each container in the template."),
    Column("Pod Labels", description="The labels for the pod template."),
])
def pod_template_cells(obj: Obj, now: datetime) -> Cells:
    names, images = containers_cells(dig(obj, "template", "spec"))
    return [name(obj), names, images, format_labels(dig(obj, "template", "metadata", "labels"))]
