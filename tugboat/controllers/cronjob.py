"""CronJob controller: create a Job at each scheduled time (upstream cronjob_controllerv2).

Per reconcile: reconcile `status.active` with the Jobs we own (finished ones leave it, update
`lastSuccessfulTime`; missing ones are dropped), delete finished Jobs beyond the history
limits, then — unless suspended — find the most recent due activation. Too late (past
startingDeadlineSeconds) → a MissSchedule warning; Forbid with a Job still active → skip;
Replace → delete the active Jobs first; then create `<cronjob>-<minutes since epoch>` (the
deterministic name makes a restart or a retry unable to start the same run twice). The
reconcile returns the seconds until the next activation, so the work queue wakes us then —
on the injected clock, which is how tests drive schedules with a FakeClock.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from tugboat.client import copy_obj, is_already_exists, is_not_found
from tugboat.util.clock import parse_rfc3339, rfc3339

from ._workload_pods import (
    CRONJOBS,
    JOBS,
    OWNER_UID_INDEX,
    Obj,
    clocked_loop,
    controller_of,
    controller_uid_index,
    meta,
)
from .base import BaseController, ControllerContext, register
from .cronjob_util import (
    SCHEDULED_TIMESTAMP,
    job_name,
    most_recent_schedule,
    next_schedule_in,
    schedule_of,
    scheduled_annotation,
)
from .job_util import get_condition

log = logging.getLogger(__name__)
COMPONENT = "cronjob-controller"


def _finished(job: Obj) -> str | None:
    for t in ("Complete", "Failed"):
        if get_condition(job, t) is not None:
            return t
    return None


def _ref(job: Obj) -> Obj:
    md = meta(job)
    return {"kind": "Job", "namespace": md.get("namespace"), "name": md.get("name"), "uid": md.get("uid"),
            "apiVersion": "batch/v1", "resourceVersion": md.get("resourceVersion")}


@register
class CronJobController(BaseController):
    name = "cronjob"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = clocked_loop(self.name, self.reconcile, self.workers, ctx.clock)
        self.recorder = ctx.recorder(COMPONENT)

    def setup(self) -> None:
        self.cronjobs = self.ctx.informers.informer(CRONJOBS)
        self.jobs = self.ctx.informers.informer(JOBS, indexers={OWNER_UID_INDEX: controller_uid_index})
        self.cronjobs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.jobs.add_event_handler(on_add=self._job_event, on_update=lambda _o, n: self._job_event(n),
                                    on_delete=lambda o: self._job_event(getattr(o, "obj", o)))

    def _job_event(self, job: Obj) -> None:
        ref = controller_of(job)
        if ref and ref.get("kind") == "CronJob":
            self.enqueue_key(f"{meta(job).get('namespace')}/{ref.get('name')}")

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        cj = self.cronjobs.lister.get(name, ns)
        if cj is None:
            return None
        cj = copy_obj(cj)
        jobs = self.jobs.lister.by_index(OWNER_UID_INDEX, meta(cj)["uid"])
        known = {r.get("uid") for r in (cj.get("status") or {}).get("active") or ()}
        if any(meta(j)["uid"] not in known and not _finished(j) for j in jobs):
            cj = await self.client.get(CRONJOBS, name, ns)  # our cache may predate our own write
        before = copy_obj(cj.get("status") or {})
        await self._sync_active(cj, jobs)
        requeue: float | None = None
        if not meta(cj).get("deletionTimestamp"):
            requeue = await self._schedule(cj)
        if (cj.get("status") or {}) != before:
            await self.client.update_status(CRONJOBS, cj)
        if not meta(cj).get("deletionTimestamp"):
            await self._cleanup(cj, self.jobs.lister.by_index(OWNER_UID_INDEX, meta(cj)["uid"]))
        return requeue

    async def _sync_active(self, cj: Obj, jobs: list[Obj]) -> None:
        st = cj.setdefault("status", {})
        active: list[Obj] = list(st.get("active") or ())
        uids = {r.get("uid") for r in active}
        by_uid = {meta(j)["uid"]: j for j in jobs}
        for j in jobs:
            done = _finished(j)
            if meta(j)["uid"] in uids and done:
                active = [r for r in active if r.get("uid") != meta(j)["uid"]]
                self.recorder.emit(cj, "Normal", "SawCompletedJob",
                                   f"Saw completed job: {meta(j)['name']}, status: {done}")
                ct = (j.get("status") or {}).get("completionTime")
                if done == "Complete" and ct:
                    last = st.get("lastSuccessfulTime")
                    if not last or parse_rfc3339(last) < parse_rfc3339(ct):
                        st["lastSuccessfulTime"] = ct
            elif meta(j)["uid"] not in uids and not done:
                self.recorder.emit(cj, "Warning", "UnexpectedJob",
                                   f"Saw a job that the controller did not create or forgot: {meta(j)['name']}")
        for r in list(active):
            if r.get("uid") in by_uid:
                continue
            try:
                await self.client.get(JOBS, r["name"], r.get("namespace") or meta(cj)["namespace"])
            except Exception as e:
                if not is_not_found(e):
                    raise
                active = [a for a in active if a.get("uid") != r.get("uid")]
                self.recorder.emit(cj, "Normal", "MissingJob", f"Active job went missing: {r['name']}")
        if active:
            st["active"] = active
        else:
            st.pop("active", None)

    async def _schedule(self, cj: Obj) -> float | None:
        spec, st = cj.get("spec") or {}, cj.setdefault("status", {})
        if spec.get("suspend"):
            return None
        try:
            sched = schedule_of(cj)
        except ValueError as e:
            self.recorder.emit(cj, "Warning", "UnparseableSchedule",
                               f"unparseable schedule: {spec.get('schedule')!r} : {e}")
            return None
        now = self.ctx.clock.time()
        requeue = next_schedule_in(now, sched)
        scheduled, missed = most_recent_schedule(cj, now, sched)
        if missed > 100:
            self.recorder.emit(cj, "Warning", "TooManyMissedTimes",
                               f"too many missed start times: {missed}. Set or decrease "
                               ".spec.startingDeadlineSeconds or check clock skew")
        if scheduled is None:
            return requeue
        sds = spec.get("startingDeadlineSeconds")
        if sds is not None and scheduled.timestamp() + int(sds) < now:
            self.recorder.emit(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                               + scheduled.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return requeue
        jname = job_name(meta(cj)["name"], scheduled)
        active = list(st.get("active") or ())
        if any(r.get("name") == jname for r in active) or st.get("lastScheduleTime") == rfc3339(scheduled.timestamp()):
            return requeue
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.recorder.emit(cj, "Normal", "JobAlreadyActive",
                               "Not starting job because prior execution is running and concurrency policy is Forbid")
            return requeue
        if policy == "Replace":
            for r in active:
                await self._delete_job(cj, r["name"])
            st.pop("active", None)
            active = []
        job = await self._create(cj, jname, scheduled, sched)
        if job is not None:
            st["active"] = [*active, _ref(job)]
        st["lastScheduleTime"] = rfc3339(scheduled.timestamp())
        return requeue

    async def _create(self, cj: Obj, jname: str, scheduled: Any, sched: Any) -> Obj | None:
        tmpl = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmeta = tmpl.get("metadata") or {}
        body: Obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
            "name": jname, "namespace": meta(cj)["namespace"],
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": {**(tmeta.get("annotations") or {}),
                            SCHEDULED_TIMESTAMP: scheduled_annotation(scheduled, sched)},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": meta(cj)["name"],
                                 "uid": meta(cj)["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": copy_obj(tmpl.get("spec") or {})}
        try:
            job = await self.client.create(JOBS, body)
        except Exception as e:
            if is_already_exists(e):
                existing = await self.client.get(JOBS, jname, meta(cj)["namespace"])
                ref = controller_of(existing)
                if ref and ref.get("uid") == meta(cj)["uid"] and not _finished(existing):
                    return existing
                return None
            self.recorder.emit(cj, "Warning", "FailedCreate", f"Error creating job: {e}")
            raise
        self.recorder.emit(cj, "Normal", "SuccessfulCreate", f"Created job {jname}")
        return job

    async def _delete_job(self, cj: Obj, name: str) -> None:
        try:
            await self.client.delete(JOBS, name, meta(cj)["namespace"], propagation_policy="Background")
        except Exception as e:
            if not is_not_found(e):
                self.recorder.emit(cj, "Warning", "FailedDelete", f"Deleted job: {e}")
                raise
            return
        self.recorder.emit(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")

    async def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        """Keep at most successful/failedJobsHistoryLimit finished Jobs (oldest start goes)."""
        spec = cj.get("spec") or {}
        active = {r.get("uid") for r in (cj.get("status") or {}).get("active") or ()}
        for ctype, limit_field in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(limit_field)
            if limit is None:
                continue
            done = [j for j in jobs if _finished(j) == ctype and meta(j)["uid"] not in active
                    and not meta(j).get("deletionTimestamp")]
            done.sort(key=lambda j: ((j.get("status") or {}).get("startTime") is None,
                                     (j.get("status") or {}).get("startTime") or "", meta(j)["name"]))
            for j in done[: max(0, len(done) - int(limit))]:
                await self._delete_job(cj, meta(j)["name"])
