"""Pod status from runtime state, as upstream's kubelet computes it (generateAPIPodStatus).

Pure functions: given the pod, the runtime's containers for it (latest and previous attempt
per container name), the waiting reasons the pod worker recorded (ErrImagePull,
CrashLoopBackOff, CreateContainerConfigError …) and probe results, build `status` with the
upstream fields: phase (getPhase's counting rules), conditions (PodReadyToStartContainers,
Initialized, ContainersReady, Ready; PodScheduled and foreign conditions kept, transition
times kept while the status does not change), hostIP(s), podIP(s), startTime, qosClass and
(init)containerStatuses with state / lastState / ready / started / restartCount / image /
imageID / containerID `tugboat://<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tugboat.api.kinds.core_pod import pod_qos_class
from tugboat.node.keys import CONTAINER_ID_PREFIX
from tugboat.node.probes import ContainerProbes
from tugboat.node.runtime.base import ContainerStatus
from tugboat.util.clock import rfc3339

OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


@dataclass
class PodView:
    """What the pod worker knows about one pod at the end of a sync."""

    pod: dict[str, Any]
    latest: dict[str, ContainerStatus]
    previous: dict[str, ContainerStatus]
    waiting: dict[str, tuple[str, str]]
    probes: dict[str, ContainerProbes | None]
    sandbox_ready: bool
    pod_ip: str
    host_ip: str
    now: float


def is_sidecar(c: dict[str, Any]) -> bool:
    return c.get("restartPolicy") == "Always"


def _terminated(c: ContainerStatus) -> dict[str, Any]:
    t: dict[str, Any] = {"exitCode": c.exit_code,
                         "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error"),
                         "startedAt": rfc3339(c.started_at) if c.started_at else None,
                         "finishedAt": rfc3339(c.finished_at) if c.finished_at else None,
                         "containerID": CONTAINER_ID_PREFIX + c.id}
    if c.message:
        t["message"] = c.message
    return t


def container_status(v: PodView, spec: dict[str, Any], is_init: bool, init_pending: bool) -> dict[str, Any]:
    name = spec.get("name", "")
    latest = v.latest.get(name)
    prev = v.previous.get(name)
    override = v.waiting.get(name)
    probes = v.probes.get(name)
    out: dict[str, Any] = {"name": name, "image": spec.get("image", ""), "imageID": "", "ready": False,
                           "restartCount": latest.attempt if latest else 0, "started": False,
                           "state": {}, "lastState": {}}
    if latest is None:
        # upstream: the default waiting reason is PodInitializing for every container (init ones
        # too) of a pod that has init containers, ContainerCreating otherwise
        reason, msg = override or (("PodInitializing", "") if init_pending else ("ContainerCreating", ""))
        out["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
        return out
    # as the runtime reports them (containerd: the image's first repo tag, its repo digest), e.g.
    # docker.io/library/busybox:latest and docker.io/library/busybox@sha256:… for `image: busybox`
    out["image"] = latest.image or out["image"]
    out["imageID"] = latest.image_id
    out["containerID"] = CONTAINER_ID_PREFIX + latest.id
    if latest.state == "running":
        out["state"] = {"running": {"startedAt": rfc3339(latest.started_at)}}
        started = probes.started if probes else True
        out["started"] = started
        if is_init and not is_sidecar(spec):
            out["ready"] = False
        else:
            out["ready"] = bool(started and (probes.ready if probes else True))
        if prev is not None:
            out["lastState"] = {"terminated": _terminated(prev)}
    elif latest.state == "exited":
        if override:
            out["state"] = {"waiting": {"reason": override[0], **({"message": override[1]} if override[1] else {})}}
            out["lastState"] = {"terminated": _terminated(latest)}
        else:
            out["state"] = {"terminated": _terminated(latest)}
            if prev is not None:
                out["lastState"] = {"terminated": _terminated(prev)}
            out["ready"] = is_init and latest.exit_code == 0 and not is_sidecar(spec)
    else:
        reason, msg = override or ("ContainerCreating", "")
        out["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
    return out


def _init_counts(statuses: list[dict[str, Any]], specs: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    pending = failed = 0
    incomplete = []
    for st, spec in zip(statuses, specs, strict=True):
        state, last = st["state"], st["lastState"]
        if is_sidecar(spec):
            if not st["started"]:
                pending += 1
                incomplete.append(st["name"])
            continue
        term = state.get("terminated")
        if term is not None:
            if term["exitCode"] == 0:
                continue
            failed += 1
        elif "waiting" in state and "terminated" in last:
            if last["terminated"]["exitCode"] == 0:
                continue
            failed += 1
        else:
            pending += 1
        incomplete.append(st["name"])
    return pending, failed, incomplete


def pod_phase(pod: dict[str, Any], init: list[dict[str, Any]], app: list[dict[str, Any]]) -> str:
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    pending_init, failed_init, _ = _init_counts(init, spec.get("initContainers") or [])
    running = waiting = stopped = succeeded = 0
    for st in app:
        state = st["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif "terminated" in st["lastState"]:
            stopped += 1
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _cond(typ: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {"type": typ, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        c["reason"] = reason
        if message:
            c["message"] = message
    return c


def build_status(v: PodView, terminal_phase: str = "") -> dict[str, Any]:
    pod = v.pod
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    init_specs = spec.get("initContainers") or []
    app_specs = spec.get("containers") or []
    init = [container_status(v, c, True, True) for c in init_specs]
    pending_init, _failed, incomplete = _init_counts(init, init_specs)
    app = [container_status(v, c, False, bool(init_specs)) for c in app_specs]
    phase = terminal_phase or pod_phase(pod, init, app)
    unready = [s["name"] for s in app if not s["ready"]]
    unready += [s["name"] for s, c in zip(init, init_specs, strict=True) if is_sidecar(c) and not s["ready"]]
    conds = [_cond("PodReadyToStartContainers", v.sandbox_ready and phase not in ("Succeeded", "Failed"))]
    conds.append(_cond("Initialized", not incomplete, "ContainersNotInitialized",
                       f"containers with incomplete status: [{' '.join(incomplete)}]"))
    if phase == "Succeeded":
        ready, reason, msg = False, "PodCompleted", ""
    else:
        ready, reason = not unready, "ContainersNotReady"
        msg = f"containers with unready status: [{' '.join(unready)}]"
    conds.append(_cond("ContainersReady", ready, reason, msg))
    gate_msg = ""
    if ready:
        by_type = {c.get("type"): c for c in old.get("conditions") or []}
        for g in spec.get("readinessGates") or []:
            ct = g.get("conditionType", "")
            if ct not in by_type:
                gate_msg = f'corresponding condition of pod readiness gate "{ct}" does not exist.'
            elif by_type[ct].get("status") != "True":
                gate_msg = f'the status of pod readiness gate "{ct}" is not "True", but {by_type[ct].get("status")}'
    if gate_msg:
        conds.append(_cond("Ready", False, "ReadinessGatesNotReady", gate_msg))
    else:
        conds.append(_cond("Ready", ready, reason, msg))
    now = rfc3339(v.now)
    prev = {c.get("type"): c for c in old.get("conditions") or []}
    for c in conds:
        p = prev.get(c["type"])
        c["lastTransitionTime"] = p.get("lastTransitionTime") if p and p.get("status") == c["status"] else now
    foreign = [c for c in old.get("conditions") or [] if c.get("type") not in OWN_CONDITIONS]
    if not any(c.get("type") == "PodScheduled" for c in foreign):
        foreign.insert(0, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now})
    status: dict[str, Any] = {"phase": phase, "conditions": foreign + conds}
    if v.host_ip:
        status["hostIP"] = v.host_ip
        status["hostIPs"] = [{"ip": v.host_ip}]
    ip = v.host_ip if spec.get("hostNetwork") else v.pod_ip
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    elif old.get("podIP"):
        status["podIP"], status["podIPs"] = old["podIP"], old.get("podIPs") or [{"ip": old["podIP"]}]
    status["startTime"] = old.get("startTime") or now
    status["qosClass"] = old.get("qosClass") or pod_qos_class(spec)
    if init:
        status["initContainerStatuses"] = init
    status["containerStatuses"] = app
    return status
