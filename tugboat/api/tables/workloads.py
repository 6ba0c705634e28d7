"""Rows for the workload controllers' kinds (apps, batch, policy, autoscaling, core RC).

Cell types matter: upstream emits integers (int64) for counters typed "integer" and strings
like "2/3" for READY, and kubectl right-aligns nothing but prints them as given.
"""

from __future__ import annotations

from datetime import datetime

from ..selectors import format_label_selector, format_labels, label_selector_from_dict
from .util import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Cells,
    Column,
    D,
    Obj,
    age,
    bool_ptr,
    containers_cells,
    dig,
    human_duration,
    name,
    parse_time,
    printer,
    since,
)

TEMPLATE = "Names of each container in the template."


def _pod_spec(obj: Obj) -> object:
    return dig(obj, "spec", "template", "spec")


@printer("", "ReplicationController", [
    NAME,
    Column("Desired", "integer", D("core.v1.ReplicationControllerSpec", "replicas")),
    Column("Current", "integer", D("core.v1.ReplicationControllerStatus", "replicas")),
    Column("Ready", "integer", D("core.v1.ReplicationControllerStatus", "readyReplicas")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", description=D("core.v1.ReplicationControllerSpec", "selector"), priority=1),
])
def rc_cells(obj: Obj, now: datetime) -> Cells:
    names, images = containers_cells(_pod_spec(obj))
    return [name(obj), int(dig(obj, "spec", "replicas", default=1)), int(dig(obj, "status", "replicas", default=0)),
            int(dig(obj, "status", "readyReplicas", default=0)), age(obj, now), names, images,
            format_labels(dig(obj, "spec", "selector"))]


@printer("apps", "ReplicaSet", [
    NAME,
    Column("Desired", "integer", D("apps.v1.ReplicaSetSpec", "replicas")),
    Column("Current", "integer", D("apps.v1.ReplicaSetStatus", "replicas")),
    Column("Ready", "integer", D("apps.v1.ReplicaSetStatus", "readyReplicas")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", description=D("apps.v1.ReplicaSetSpec", "selector"), priority=1),
])
def rs_cells(obj: Obj, now: datetime) -> Cells:
    names, images = containers_cells(_pod_spec(obj))
    return [name(obj), int(dig(obj, "spec", "replicas", default=1)), int(dig(obj, "status", "replicas", default=0)),
            int(dig(obj, "status", "readyReplicas", default=0)), age(obj, now), names, images,
            format_label_selector(dig(obj, "spec", "selector"))]


@printer("apps", "Deployment", [
    NAME,
    Column("Ready", description="Number of the pod with ready state"),
    Column("Up-to-date", description=D("apps.v1.DeploymentStatus", "updatedReplicas")),
    Column("Available", description=D("apps.v1.DeploymentStatus", "availableReplicas")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", description=D("apps.v1.DeploymentSpec", "selector"), priority=1),
])
def deployment_cells(obj: Obj, now: datetime) -> Cells:
    names, images = containers_cells(_pod_spec(obj))
    try:
        sel = str(label_selector_from_dict(dig(obj, "spec", "selector")))
    except ValueError:
        sel = "<invalid>"
    ready, desired = dig(obj, "status", "readyReplicas", default=0), dig(obj, "spec", "replicas", default=1)
    return [name(obj), f"{ready}/{desired}", int(dig(obj, "status", "updatedReplicas", default=0)),
            int(dig(obj, "status", "availableReplicas", default=0)), age(obj, now), names, images, sel]


@printer("apps", "StatefulSet", [
    NAME, Column("Ready", description="Number of the pod with ready state"), AGE, CONTAINERS, IMAGES,
])
def sts_cells(obj: Obj, now: datetime) -> Cells:
    names, images = containers_cells(_pod_spec(obj))
    ready, desired = dig(obj, "status", "readyReplicas", default=0), dig(obj, "spec", "replicas", default=1)
    return [name(obj), f"{ready}/{desired}", age(obj, now), names, images]


@printer("apps", "DaemonSet", [
    NAME,
    Column("Desired", "integer", D("apps.v1.DaemonSetStatus", "desiredNumberScheduled")),
    Column("Current", "integer", D("apps.v1.DaemonSetStatus", "currentNumberScheduled")),
    Column("Ready", "integer", D("apps.v1.DaemonSetStatus", "numberReady")),
    Column("Up-to-date", "integer", D("apps.v1.DaemonSetStatus", "updatedNumberScheduled")),
    Column("Available", "integer", D("apps.v1.DaemonSetStatus", "numberAvailable")),
    Column("Node Selector", description=D("core.v1.PodSpec", "nodeSelector")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", description=D("apps.v1.DaemonSetSpec", "selector"), priority=1),
])
def ds_cells(obj: Obj, now: datetime) -> Cells:
    names, images = containers_cells(_pod_spec(obj))
    st = obj.get("status") or {}
    return [name(obj), int(st.get("desiredNumberScheduled", 0)), int(st.get("currentNumberScheduled", 0)),
            int(st.get("numberReady", 0)), int(st.get("updatedNumberScheduled", 0)),
            int(st.get("numberAvailable", 0)), format_labels(dig(_pod_spec(obj), "nodeSelector")),
            age(obj, now), names, images, format_label_selector(dig(obj, "spec", "selector"))]


@printer("apps", "ControllerRevision", [
    NAME,
    Column("Controller", description="Controller of the object"),
    Column("Revision", description=D("apps.v1.ControllerRevision", "revision")),
    AGE,
])
def controller_revision_cells(obj: Obj, now: datetime) -> Cells:
    ctrl = "<none>"
    for ref in dig(obj, "metadata", "ownerReferences", default=[]):
        if ref.get("controller"):
            api_version = str(ref.get("apiVersion", ""))
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            kind = str(ref.get("kind", ""))
            gk = f"{kind}.{group}" if group else kind
            ctrl = f"{gk.lower()}/{ref.get('name', '')}" if kind or group else str(ref.get("name", ""))
            break
    return [name(obj), ctrl, int(obj.get("revision") or 0), age(obj, now)]


def _job_condition(obj: Obj, ctype: str) -> bool:
    for c in dig(obj, "status", "conditions", default=[]):
        if c.get("type") == ctype:
            return bool(c.get("status") == "True")
    return False


def job_status(obj: Obj) -> str:
    if _job_condition(obj, "Complete"):
        return "Complete"
    if _job_condition(obj, "Failed"):
        return "Failed"
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _job_condition(obj, "Suspended"):
        return "Suspended"
    if _job_condition(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


@printer("batch", "Job", [
    NAME,
    Column("Status", description="Status of the job."),
    Column("Completions", description=D("batch.v1.JobStatus", "succeeded")),
    Column("Duration", description="Time required to complete the job."),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", description=D("batch.v1.JobSpec", "selector"), priority=1),
])
def job_cells(obj: Obj, now: datetime) -> Cells:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = st.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(((end or now) - start).total_seconds())
    names, images = containers_cells(dig(spec, "template", "spec"))
    return [name(obj), job_status(obj), completions, duration, age(obj, now), names, images,
            format_label_selector(spec.get("selector"))]


@printer("batch", "CronJob", [
    NAME,
    Column("Schedule", description=D("batch.v1.CronJobSpec", "schedule")),
    Column("Timezone", description=D("batch.v1.CronJobSpec", "timeZone")),
    Column("Suspend", "boolean", D("batch.v1.CronJobSpec", "suspend")),
    Column("Active", "integer", D("batch.v1.CronJobStatus", "active")),
    Column("Last Schedule", description=D("batch.v1.CronJobStatus", "lastScheduleTime")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", description=D("batch.v1.JobSpec", "selector"), priority=1),
])
def cronjob_cells(obj: Obj, now: datetime) -> Cells:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    last = since(st["lastScheduleTime"], now) if st.get("lastScheduleTime") else "<none>"
    job_spec = dig(spec, "jobTemplate", "spec", default={})
    names, images = containers_cells(dig(job_spec, "template", "spec"))
    return [name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>", bool_ptr(spec.get("suspend")),
            len(st.get("active") or []), last, age(obj, now), names, images,
            format_label_selector(job_spec.get("selector"))]


@printer("policy", "PodDisruptionBudget", [
    NAME,
    Column("Min Available", description="The minimum number of pods that must be available."),
    Column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
    Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
])
def pdb_cells(obj: Obj, now: datetime) -> Cells:
    spec = obj.get("spec") or {}
    mn, mx = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [name(obj), "N/A" if mn is None else str(mn), "N/A" if mx is None else str(mx),
            int(dig(obj, "status", "disruptionsAllowed", default=0)), age(obj, now)]
