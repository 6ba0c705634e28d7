"""Job controller: run pods to completion, retry failures with back-off, report conditions.

Per reconcile (upstream syncJob, 1.32 semantics):
* count finished pods once through the tracking finalizer (job_tracking.py);
* decide the outcome: more failures than `backoffLimit` → FailureTarget/BackoffLimitExceeded,
  past `activeDeadlineSeconds` → FailureTarget/DeadlineExceeded, enough successes (all
  indexes, in Indexed mode) → SuccessCriteriaMet/CompletionsReached. The interim condition is
  written first; remaining pods are deleted, and the terminal Failed/Complete condition (and
  `completionTime`) follows once no pod is running or terminating — as upstream delays it;
* otherwise keep min(parallelism, remaining completions) pods active: create missing ones
  (Indexed: the lowest missing indexes, annotated/labelled `job-completion-index`, hostname
  `<job>-<index>`) — after a failure only once the back-off (10 s × 2^(n-1), max 6 min) has
  passed — delete extras, and delete everything while `suspend` is true.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.client import copy_obj, deleted_object, is_not_found
from tugboat.util.clock import parse_rfc3339, rfc3339

from ._workload_pods import (
    JOBS,
    OWNER_UID_INDEX,
    PODS,
    Expectations,
    Obj,
    clocked_loop,
    controller_of,
    controller_uid_index,
    create_in_batches,
    creation_time,
    is_active,
    is_ready,
    is_terminating,
    meta,
    owner_ref,
    phase,
    pod_from_template,
)
from .base import BaseController, ControllerContext, register
from .job_tracking import fold, has_finalizer, new_finished, remove_finalizer
from .job_util import (
    BACKOFF_LIMIT_EXCEEDED,
    COMPLETION_INDEX,
    COMPLETIONS_REACHED,
    DEADLINE_EXCEEDED,
    TRACKING_FINALIZER,
    backoff_delay,
    format_indexes,
    get_condition,
    is_finished,
    parse_indexes,
    pod_index,
    set_condition,
    want_active,
)

log = logging.getLogger(__name__)
COMPONENT = "job-controller"


@register
class JobController(BaseController):
    name = "job"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = clocked_loop(self.name, self.reconcile, self.workers, ctx.clock)
        self.recorder = ctx.recorder(COMPONENT)
        self.expectations = Expectations(ctx.clock)
        # job key -> (failures since the last success, time of the last failure)
        self.backoff: dict[str, tuple[int, float]] = {}

    def setup(self) -> None:
        self.jobs = self.ctx.informers.informer(JOBS)
        self.pods = self.ctx.informers.informer(PODS, indexers={OWNER_UID_INDEX: controller_uid_index})
        self.jobs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                    on_delete=lambda o: self.enqueue(deleted_object(o)))
        self.pods.add_event_handler(on_add=self._pod_event, on_update=lambda _o, n: self._pod_event(n),
                                    on_delete=lambda o: self._pod_event(deleted_object(o)))

    def _pod_event(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == "Job":
            self.enqueue_key(f"{meta(pod).get('namespace')}/{ref.get('name')}")

    def _cached(self, key: str) -> Obj | None:
        ns, _, name = key.partition("/")
        return self.pods.lister.get(name, ns)

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        job = self.jobs.lister.get(name, ns)
        if job is None:
            self.expectations.forget(key)
            self.backoff.pop(key, None)
            return None
        pods = self.pods.lister.by_index(OWNER_UID_INDEX, meta(job)["uid"])
        if is_finished(job):
            for p in pods:
                if has_finalizer(p):
                    await remove_finalizer(self.client, p)
            return None
        if not self.expectations.satisfied(key, self._cached):
            return None
        return await _Sync(self, key, job, pods).run()


class _Sync:
    def __init__(self, ctl: JobController, key: str, job: Obj, pods: list[Obj]):
        self.ctl, self.key, self.job, self.pods = ctl, key, job, pods
        self.client = ctl.client
        self.spec: Obj = job.get("spec") or {}
        self.status: Obj = copy_obj(job.get("status") or {})
        self.conditions: list[Obj] = self.status.setdefault("conditions", [])
        self.indexed = self.spec.get("completionMode") == "Indexed"
        self.completions = int(self.spec.get("completions") or 0)
        self.now = ctl.ctx.clock.time()
        self.requeue: float | None = None
        self.backoff: tuple[int, float] = ctl.backoff.get(key, (0, 0.0))
        self.name, self.ns = meta(job)["name"], meta(job)["namespace"]

    def _after(self, seconds: float) -> None:
        if seconds > 0:
            self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    async def run(self) -> float | None:
        tally = await self._track()
        active = [p for p in self.pods if is_active(p)]
        terminating = sum(1 for p in self.pods if is_terminating(p) and phase(p) not in ("Succeeded", "Failed"))
        st = self.status
        st["succeeded"], st["failed"] = tally.succeeded, tally.failed
        if self.indexed:
            st["completedIndexes"] = format_indexes(tally.completed)
        finishing = self._finishing(tally, active)
        if finishing is not None:
            deleted = await self._delete(active)
            if not active and not terminating and not deleted:
                self._terminal(finishing)
            active = []
        else:
            active = await self._manage(active, tally)
        st["active"] = len(active)
        st["ready"] = sum(1 for p in active if is_ready(p))
        st["terminating"] = terminating
        st["uncountedTerminatedPods"] = {}
        await self._write()
        self.ctl.backoff[self.key] = self.backoff
        return self.requeue

    # -- counting ------------------------------------------------------------------------------

    async def _track(self) -> Any:
        st = self.status
        new_s, new_f = new_finished(self.pods, st)
        if new_s or new_f:
            unc = st.setdefault("uncountedTerminatedPods", {})
            for field, new in (("succeeded", new_s), ("failed", new_f)):
                if new:
                    unc[field] = sorted({*(unc.get(field) or ()), *(meta(p)["uid"] for p in new)})
            await self._write()
        unc = st.get("uncountedTerminatedPods") or {}
        uncounted = set(unc.get("succeeded") or ()) | set(unc.get("failed") or ())
        by_uid = {meta(p)["uid"]: p for p in self.pods}
        for uid in uncounted:
            pod = by_uid.get(uid)
            if pod is not None and has_finalizer(pod):
                await remove_finalizer(self.client, pod)
        tally = fold(st, by_uid, self.indexed, self.completions)
        st["uncountedTerminatedPods"] = {}
        fails, last = self.ctl.backoff.get(self.key, (0, 0.0))
        if tally.new_successes and not tally.new_failures:
            fails = 0
        if tally.new_failures:
            fails, last = fails + tally.new_failures, self.now
        self.backoff = (fails, last)  # committed once the status write succeeded
        return tally

    # -- outcome -------------------------------------------------------------------------------

    def _finishing(self, tally: Any, active: list[Obj]) -> tuple[str, str, str] | None:
        """(terminal type, reason, message) once the Job's outcome is decided."""
        for interim, terminal in (("FailureTarget", "Failed"), ("SuccessCriteriaMet", "Complete")):
            c = get_condition(self.job, interim)
            if c is not None:
                return terminal, c.get("reason", ""), c.get("message", "")
        decided: tuple[str, str, str] | None = None
        deadline = self.spec.get("activeDeadlineSeconds")
        start = self.status.get("startTime")
        if tally.failed > int(self.spec.get("backoffLimit", 6)):
            decided = ("Failed", *BACKOFF_LIMIT_EXCEEDED)
        elif deadline is not None and start and not self.spec.get("suspend"):
            left = parse_rfc3339(start) + int(deadline) - self.now
            if left <= 0:
                decided = ("Failed", *DEADLINE_EXCEEDED)
            else:
                self._after(left)
        if decided is None and self._complete(tally, active):
            decided = ("Complete", *COMPLETIONS_REACHED)
        if decided is not None:
            interim = "FailureTarget" if decided[0] == "Failed" else "SuccessCriteriaMet"
            set_condition(self.conditions, interim, "True", decided[1], decided[2], self.now)
        return decided

    def _complete(self, tally: Any, active: list[Obj]) -> bool:
        if self.indexed:
            return len(tally.completed) >= self.completions
        if self.spec.get("completions") is None:
            return tally.succeeded > 0 and not active
        return bool(tally.succeeded >= self.completions)

    def _terminal(self, outcome: tuple[str, str, str]) -> None:
        ctype, reason, message = outcome
        set_condition(self.conditions, ctype, "True", reason, message, self.now)
        if ctype == "Complete":
            self.status["completionTime"] = rfc3339(self.now)
            self.ctl.recorder.emit(self.job, "Normal", "Completed", "Job completed")
        else:
            self.ctl.recorder.emit(self.job, "Warning", reason, message)

    # -- pods ----------------------------------------------------------------------------------

    async def _manage(self, active: list[Obj], tally: Any) -> list[Obj]:
        st = self.status
        suspended = get_condition(self.job, "Suspended") is not None
        if self.spec.get("suspend"):
            if not suspended:
                set_condition(self.conditions, "Suspended", "True", "JobSuspended", "Job suspended", self.now)
                self.ctl.recorder.emit(self.job, "Normal", "Suspended", "Job suspended")
            await self._delete(active)
            return []
        if suspended:
            set_condition(self.conditions, "Suspended", "False", "JobResumed", "Job resumed", self.now)
            self.ctl.recorder.emit(self.job, "Normal", "Resumed", "Job resumed")
            st["startTime"] = rfc3339(self.now)
        if not st.get("startTime"):
            st["startTime"] = rfc3339(self.now)
            if self.spec.get("activeDeadlineSeconds") is not None:
                self._after(float(self.spec["activeDeadlineSeconds"]))
        keep, extra = self._split(active)
        succeeded = tally.succeeded if not self.indexed else len(tally.completed)
        want = want_active(self.spec, succeeded, len(keep))
        if len(keep) > want:
            keep.sort(key=lambda p: (is_ready(p), -creation_time(p)))
            extra += keep[: len(keep) - want]
            keep = keep[len(keep) - want:]
        if extra:
            await self._delete(extra)
        missing = want - len(keep)
        if missing > 0:
            fails, last = self.backoff
            wait = last + backoff_delay(fails) - self.now if fails else 0.0
            if wait > 0:
                self._after(wait)
            else:
                keep += await self._create(missing, keep, tally.completed)
        return keep

    def _split(self, active: list[Obj]) -> tuple[list[Obj], list[Obj]]:
        """Indexed: one pod per pending index; others (duplicates, out of range, completed) go."""
        if not self.indexed:
            return list(active), []
        keep: dict[int, Obj] = {}
        extra: list[Obj] = []
        completed = parse_indexes(self.status.get("completedIndexes"), self.completions)
        for p in sorted(active, key=creation_time):
            idx = pod_index(p)
            if idx is None or idx >= self.completions or idx in completed or idx in keep:
                extra.append(p)
            else:
                keep[idx] = p
        return list(keep.values()), extra

    async def _create(self, n: int, keep: list[Obj], completed: set[int]) -> list[Obj]:
        indexes: list[int | None] = [None] * n
        if self.indexed:
            taken = {pod_index(p) for p in keep} | completed
            indexes = list[int | None]([i for i in range(self.completions) if i not in taken][:n])
        created: list[Obj] = []

        async def one(i: int) -> None:
            pod = self._new_pod(indexes[i])
            try:
                out = await self.client.create(PODS, pod)
            except Exception as e:
                self.ctl.recorder.emit(self.job, "Warning", "FailedCreate", f"Error creating: {e}")
                raise
            self.ctl.expectations.expect_create(self.key, f"{self.ns}/{meta(out)['name']}")
            created.append(out)
            self.ctl.recorder.emit(self.job, "Normal", "SuccessfulCreate", f"Created pod: {meta(out)['name']}")

        await create_in_batches(len(indexes), one)
        return created

    def _new_pod(self, index: int | None) -> Obj:
        pod = pod_from_template(self.spec.get("template"), self.ns, owner_ref(self.job, "batch/v1", "Job"))
        md = pod["metadata"]
        md["finalizers"] = [*(md.get("finalizers") or ()), TRACKING_FINALIZER]
        md["generateName"] = f"{self.name}-"
        if index is not None:
            md["generateName"] = f"{self.name}-{index}-"
            md["annotations"] = {**(md.get("annotations") or {}), COMPLETION_INDEX: str(index)}
            md["labels"] = {**(md.get("labels") or {}), COMPLETION_INDEX: str(index)}
            pod["spec"]["hostname"] = f"{self.name}-{index}"
        return pod

    async def _delete(self, pods: list[Obj]) -> int:
        """Delete pods we no longer want (not counted as failures: finalizer removed first)."""
        n = 0
        for p in pods:
            pname = meta(p)["name"]
            if has_finalizer(p):
                await remove_finalizer(self.client, p)
            try:
                await self.client.delete(PODS, pname, self.ns, preconditions={"uid": meta(p)["uid"]})
            except Exception as e:
                if not is_not_found(e):
                    raise
                continue
            self.ctl.expectations.expect_delete(self.key, f"{self.ns}/{pname}")
            self.ctl.recorder.emit(self.job, "Normal", "SuccessfulDelete", f"Deleted pod: {pname}")
            n += 1
        return n

    async def _write(self) -> None:
        old = self.job.get("status") or {}
        # omitempty as upstream: active/succeeded/failed vanish at 0; ready/terminating stay
        new = {k: v for k, v in self.status.items()
               if not (v in (None, [], "") or (v == 0 and k in ("active", "succeeded", "failed")))}
        if new == old:
            return
        body = copy_obj(self.job)
        body["status"] = new
        self.job = await self.client.update_status(JOBS, body)
