"""TTL-after-finished controller: delete finished Jobs `ttlSecondsAfterFinished` after they end.

As upstream's ttlafterfinished controller: the finish time is the lastTransitionTime of the
Complete/Failed condition; a Job not yet due is requeued for the moment it expires (on the
injected clock); a due Job is re-read from the API (the cached TTL may be stale) and deleted
with propagation Foreground and a UID precondition, so its pods go first (garbage collector)
and a re-created Job of the same name is never hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tugboat.client import is_conflict, is_not_found
from tugboat.util.clock import parse_rfc3339

from ._workload_pods import JOBS, clocked_loop, meta
from .base import BaseController, ControllerContext, register


def expires_in(job: Mapping[str, Any], now: float) -> float | None:
    """Seconds until the Job's TTL expires (≤ 0: due), or None if it needs no clean-up."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or meta(job).get("deletionTimestamp"):
        return None
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True" and c.get("lastTransitionTime"):
            return parse_rfc3339(c["lastTransitionTime"]) + int(ttl) - now
    return None


@register
class TTLAfterFinishedController(BaseController):
    name = "ttl-after-finished"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = clocked_loop(self.name, self.reconcile, self.workers, ctx.clock)

    def setup(self) -> None:
        self.jobs = self.ctx.informers.informer(JOBS)
        self.jobs.add_event_handler(on_add=self._maybe, on_update=lambda _o, n: self._maybe(n))

    def _maybe(self, job: dict[str, Any]) -> None:
        if expires_in(job, self.ctx.clock.time()) is not None:
            self.enqueue(job)

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        job = self.jobs.lister.get(name, ns)
        if job is None:
            return None
        left = expires_in(job, self.ctx.clock.time())
        if left is None:
            return None
        if left > 0:
            return left
        try:
            fresh = await self.client.get(JOBS, name, ns)
        except Exception as e:
            if is_not_found(e):
                return None
            raise
        left = expires_in(fresh, self.ctx.clock.time())
        if left is None:
            return None
        if left > 0:
            return left
        try:
            await self.client.delete(JOBS, name, ns, propagation_policy="Foreground",
                                     preconditions={"uid": meta(fresh)["uid"]})
        except Exception as e:
            if not (is_not_found(e) or is_conflict(e)):
                raise
        return None
