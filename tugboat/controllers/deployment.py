"""Deployment controller: drive ReplicaSets to the Deployment's template (deployment_controller.go).

Watches Deployments, ReplicaSets and Pods. A sync claims the ReplicaSets matching the
selector (adopt orphans, release non-matching), then in upstream's order: deleted →
status only; paused/resumed → Progressing condition; paused or a pure replicas change →
proportional scale; otherwise the strategy's rollout (deployment_strategy.py). The
revision annotations it maintains on ReplicaSets are what `kubectl rollout history/undo`
read; the status it writes is what `kubectl rollout status` waits on.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api.selectors import LabelSelector, label_selector_from_dict
from tugboat.client import deleted_object, meta_namespace_key, split_key
from tugboat.controllers import deployment_strategy as strategy
from tugboat.controllers import deployment_util as du
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.controllers.deployment_rollout import Rollout
from tugboat.controllers.podcontrol import controller_ref
from tugboat.controllers.podcontrol_claim import ClaimManager, recheck_owner

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@register
class DeploymentController(BaseController):
    name = "deployment"
    workers = 5  # upstream --concurrent-deployment-syncs

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.rt = ctx.rt("apps", "v1", "deployments")
        self.rs_rt = ctx.rt("apps", "v1", "replicasets")
        self.pods_rt = ctx.rt("", "v1", "pods")
        self.recorder = ctx.recorder("deployment-controller")

    def setup(self) -> None:
        inf = self.ctx.informers
        self.lister = inf.lister(self.rt)
        self.rs_lister = inf.lister(self.rs_rt)
        self.pod_lister = inf.lister(self.pods_rt)
        inf.informer(self.rt).add_event_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                                on_delete=lambda o: self.enqueue(deleted_object(o)))
        inf.informer(self.rs_rt).add_event_handler(on_add=self._rs_changed, on_update=self._rs_updated,
                                                   on_delete=lambda o: self._rs_changed(deleted_object(o)))
        inf.informer(self.pods_rt).add_event_handler(on_delete=self._pod_deleted)

    # -- handlers --------------------------------------------------------------------------------

    def _owner_key(self, obj: Obj, ref: Obj | None) -> str | None:
        if ref is None or ref.get("kind") != "Deployment" or ref.get("apiVersion") != "apps/v1":
            return None
        ns = (obj.get("metadata") or {}).get("namespace")
        d = self.lister.get(ref.get("name", ""), ns)
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return meta_namespace_key(d)

    def _rs_changed(self, rs: Obj) -> None:
        ref = controller_ref(rs)
        if ref is not None:
            key = self._owner_key(rs, ref)
            if key:
                self.enqueue_key(key)
            return
        for d in self._matching(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        prev, cur = controller_ref(old), controller_ref(new)
        if prev is not None and (cur is None or prev.get("uid") != cur.get("uid")):
            key = self._owner_key(old, prev)
            if key:
                self.enqueue_key(key)
        if cur is None and old["metadata"].get("labels") == new["metadata"].get("labels") and prev is None:
            return
        self._rs_changed(new)

    def _matching(self, rs: Obj) -> list[Obj]:
        labels = rs["metadata"].get("labels") or {}
        out = []
        for d in self.lister.list(rs["metadata"].get("namespace")):
            sel = self._selector(d)
            if not sel.empty and sel.matches(labels):
                out.append(d)
        return out

    def _pod_deleted(self, obj: Any) -> None:
        """Recreate waits for old pods to be gone: re-sync when one goes."""
        pod = deleted_object(obj)
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_lister.get(ref.get("name", ""), pod["metadata"].get("namespace"))
        if rs is None:
            return
        dref = controller_ref(rs)
        if self._owner_key(rs, dref) is None or dref is None:
            return
        d = self.lister.get(dref.get("name", ""), rs["metadata"].get("namespace"))
        if d is not None and not du.is_rolling(d):
            self.enqueue(d)

    @staticmethod
    def _selector(d: Obj) -> LabelSelector:
        try:
            return label_selector_from_dict((d.get("spec") or {}).get("selector"))
        except ValueError:
            return LabelSelector.match_nothing()

    # -- sync ------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        d = self.lister.get(name, ns)
        if d is None:
            return None
        now = self.ctx.clock.time()
        sel = self._selector(d)
        if sel.empty:
            self.recorder.emit(d, "Warning", "SelectingAll",
                               "This deployment is selecting all pods. A non-empty selector is required.")
            if int((d.get("status") or {}).get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                body = {**d, "status": {**(d.get("status") or {}), "observedGeneration": d["metadata"]["generation"]}}
                await self.client.update_status(self.rt, body, ns)
            return None
        claimer = ClaimManager(self.client, d, self.rt, sel, recheck_owner(self.client, self.rt, d))
        rss = await claimer.claim(self.rs_rt, self.rs_lister.list(ns))
        r = Rollout(self.client, self.rt, self.rs_rt, self.recorder, now, d, rss, self.rs_lister)
        if d["metadata"].get("deletionTimestamp"):
            new, old = await r.get_all(create=False)
            await r.sync_status_only(new, old)
            return None
        await self._check_paused(r)
        spec = r.d["spec"]
        if spec.get("paused"):
            await self._sync_scale(r)
            return r.requeue
        if self._is_scaling_event(r):
            await self._sync_scale(r)
            return r.requeue
        if du.is_rolling(r.d):
            await strategy.rolling(r)
        else:
            await strategy.recreate(r, self._pods_by_rs(r))
        return r.requeue

    async def _check_paused(self, r: Rollout) -> None:
        d = r.d
        if not du.has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        cond = du.condition(status, du.PROGRESSING)
        paused = bool(d["spec"].get("paused"))
        if paused and (cond is None or cond.get("reason") != du.PAUSED):
            du.set_condition(status, du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED, "Deployment is paused",
                                                      r.now))
        elif not paused and cond is not None and cond.get("reason") == du.PAUSED:
            du.set_condition(status, du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED,
                                                      "Deployment is resumed", r.now))
        else:
            return
        await r.update_status()

    async def _sync_scale(self, r: Rollout) -> None:
        new, old = await r.get_all(create=False)
        await strategy.scale(r, new, old)
        new, old = r.split()
        if r.d["spec"].get("paused"):
            await r.cleanup(old)
        await r.sync_status_only(new, old)

    def _is_scaling_event(self, r: Rollout) -> bool:
        new, old = r.split()
        want = str(du.replicas(r.d))
        for rs in du.active([*old, new]):
            desired = du.annotations_of(rs).get(du.DESIRED_REPLICAS)
            if desired is not None and desired != want:
                return True
        return False

    def _pods_by_rs(self, r: Rollout) -> dict[str, list[Obj]]:
        uids = {rs["metadata"]["uid"] for rs in r.rss}
        out: dict[str, list[Obj]] = {u: [] for u in uids}
        for p in self.pod_lister.list(r.ns):
            ref = controller_ref(p)
            if ref is not None and ref.get("uid") in uids:
                out[ref["uid"]].append(p)
        return out
