"""Pod garbage collector: remove pods nothing else will ever remove.

Why: a node agent deletes its own pods' API objects, so pods on a node that is gone (orphans)
stay forever, and finished pods pile up. Upstream 1.32 pkg/controller/podgc, every 20 s:
* terminated pods (Succeeded/Failed) beyond `terminated_pod_gc_threshold` (12500; 0 disables)
  are deleted, oldest first;
* pods bound to a node that no longer exists are deleted once the node has been missing for a
  40 s quarantine (and a direct GET confirms it is gone, in case our cache lags). They are first
  marked Failed with the condition DisruptionTarget (reason DeletionByPodGC);
* pods being deleted that were never scheduled are force-deleted.
All deletes are forced (grace period 0): there is no kubelet left to wait for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tugboat.client import Controller, WorkQueue, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
GC_KEY = "\x00podgc"
TERMINAL = ("Succeeded", "Failed")


@dataclass
class PodGCOptions:
    terminated_pod_gc_threshold: int = 12500
    gc_check_period: float = 20.0
    quarantine: float = 40.0


@register
class PodGCController(BaseController):
    name = "pod-garbage-collector"
    workers = 1

    def __init__(self, ctx: ControllerContext, options: PodGCOptions | None = None):
        super().__init__(ctx)
        self.loop = Controller(self.name, self.reconcile, workers=1, queue=WorkQueue(self.name, clock=ctx.clock))
        raw = (getattr(ctx, "options", None) or {}).get(self.name) or {}
        self.opts = options or PodGCOptions(**raw)
        self.pods_rt = ctx.rt("", "v1", "pods")
        self.nodes_rt = ctx.rt("", "v1", "nodes")
        self.missing_since: dict[str, float] = {}
        self.passes = 0

    def setup(self) -> None:
        self.pods = self.ctx.informers.informer(self.pods_rt)
        self.nodes = self.ctx.informers.informer(self.nodes_rt)
        self.enqueue_key(GC_KEY)

    async def reconcile(self, key: str) -> float | None:
        try:
            pods = self.pods.lister.list()
            await self.gc_terminated(pods)
            await self.gc_orphaned(pods)
            await self.gc_unscheduled_terminating(pods)
        finally:
            self.passes += 1
        return self.opts.gc_check_period

    async def _force_delete(self, pod: Obj) -> None:
        m = pod["metadata"]
        try:
            await self.client.delete(self.pods_rt, m["name"], m["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": m.get("uid", "")})
        except ApiStatusError as e:
            if not is_not_found(e) and e.code != 409:
                raise

    async def gc_terminated(self, pods: list[Obj]) -> None:
        limit = self.opts.terminated_pod_gc_threshold
        if limit <= 0:
            return
        done = [p for p in pods if (p.get("status") or {}).get("phase") in TERMINAL]
        extra = len(done) - limit
        if extra <= 0:
            return
        log.info("garbage collecting %d terminated pods", extra)
        done.sort(key=lambda p: ((p.get("status") or {}).get("reason") != "Evicted",
                                 p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
        for pod in done[:extra]:
            await self._force_delete(pod)

    async def gc_orphaned(self, pods: list[Obj]) -> None:
        now = self.ctx.clock.time()
        bound: set[str] = {str(n) for p in pods if (n := (p.get("spec") or {}).get("nodeName"))}
        for name in list(self.missing_since):
            if name not in bound or self.nodes.lister.get(name) is not None:
                del self.missing_since[name]
        gone: set[str] = set()
        for name in bound:
            if self.nodes.lister.get(name) is not None:
                continue
            since = self.missing_since.setdefault(name, now)
            if now - since < self.opts.quarantine:
                continue
            try:
                await self.client.get(self.nodes_rt, name)
                del self.missing_since[name]  # our cache was behind
                continue
            except ApiStatusError as e:
                if not is_not_found(e):
                    raise
            gone.add(name)
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in gone:
                await self._fail_orphan(pod, now)
                await self._force_delete(pod)

    async def _fail_orphan(self, pod: Obj, now: float) -> None:
        m = pod["metadata"]
        status: Obj = {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                                       "message": "PodGC: node no longer exists",
                                       "lastTransitionTime": rfc3339(now)}]}
        if (pod.get("status") or {}).get("phase") not in TERMINAL:
            status["phase"] = "Failed"
        try:
            await self.client.patch(self.pods_rt, m["name"], {"status": status}, m["namespace"],
                                    patch_type="strategic", subresource="status")
        except ApiStatusError as e:
            if not is_not_found(e):
                raise

    async def gc_unscheduled_terminating(self, pods: list[Obj]) -> None:
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                await self._force_delete(pod)
