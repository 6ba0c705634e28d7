"""StatefulSet controller: ordered, sticky-identity pods with their own storage.

One reconcile follows upstream's StatefulSetControl.UpdateStatefulSet:
1. snapshot the template as a ControllerRevision (update revision; the current one is
   `status.currentRevision`),
2. walk ordinals [start, start+replicas): replace failed pods, create missing ones (claims
   first); with OrderedReady stop at the first pod created, terminating or not Running+Ready
   (available, with minReadySeconds), with Parallel carry on,
3. delete condemned pods (ordinals beyond the range) from the highest down — one at a time and
   only when everything else is healthy under OrderedReady,
4. RollingUpdate: from the highest ordinal down to the partition, delete the first pod not at
   the update revision, waiting for each to come back healthy (OnDelete: nothing),
5. write status (counts, revisions, observedGeneration, collisionCount); once every pod is
   updated and ready the update revision becomes current, which ends `kubectl rollout status`.

Deletes carry a UID precondition so a stale cache can never delete a pod's replacement.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.client import copy_obj, deleted_object, is_already_exists, is_conflict, is_not_found

from ._workload_pods import (
    CONTROLLER_REVISIONS,
    OWNER_UID_INDEX,
    PODS,
    PVCS,
    STATEFULSETS,
    Obj,
    available_in,
    clocked_loop,
    controller_of,
    controller_uid_index,
    is_available,
    is_running_and_ready,
    is_terminating,
    meta,
    phase,
)
from .base import BaseController, ControllerContext, register
from .controllerhistory import (
    REVISION_HASH_LABEL,
    RevisionCollision,
    ensure_revision,
    hash_revision_data,
    revisions_of,
    template_of,
    template_patch,
    truncate_history,
)
from .statefulset_pods import desired_claim_refs, new_claims, new_pod, ordinal_of, start_ordinal

log = logging.getLogger(__name__)
COMPONENT = "statefulset-controller"


def _revision(pod: Obj) -> str:
    return str((meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL, ""))


@register
class StatefulSetController(BaseController):
    name = "statefulset"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = clocked_loop(self.name, self.reconcile, self.workers, ctx.clock)
        self.recorder = ctx.recorder(COMPONENT)

    def setup(self) -> None:
        inf = self.ctx.informers
        self.sets = inf.informer(STATEFULSETS)
        self.pods = inf.informer(PODS, indexers={OWNER_UID_INDEX: controller_uid_index})
        self.pvcs = inf.informer(PVCS)
        self.revs = inf.informer(CONTROLLER_REVISIONS)
        self.sets.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                    on_delete=lambda o: self.enqueue(deleted_object(o)))
        self.pods.add_event_handler(on_add=self._pod_event, on_update=self._pod_update,
                                    on_delete=lambda o: self._pod_event(deleted_object(o)))

    def _pod_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") != meta(new).get("resourceVersion"):
            self._pod_event(new)

    def _pod_event(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == "StatefulSet":
            self.enqueue_key(f"{meta(pod).get('namespace')}/{ref.get('name')}")

    # -- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        sset = self.sets.lister.get(name, ns)
        if sset is None or is_terminating(sset):
            return None
        pods = self.pods.lister.by_index(OWNER_UID_INDEX, meta(sset)["uid"])
        revs = revisions_of(self.revs.lister, sset)
        status = sset.get("status") or {}
        collision = int(status.get("collisionCount") or 0)
        data = template_patch((sset.get("spec") or {}).get("template"))
        try:
            update_rev = await ensure_revision(
                self.client, sset, "apps/v1", "StatefulSet", revs, data, hash_revision_data(data, collision),
                ((sset.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels"),
                meta(sset).get("annotations"))
        except RevisionCollision:
            body = {"status": {"collisionCount": collision + 1}}
            await self.client.patch(STATEFULSETS, name, body, ns, subresource="status")
            raise
        current_rev = next((r for r in revs if meta(r)["name"] == status.get("currentRevision")), update_rev)
        sync = _Sync(self, sset, pods, meta(current_rev)["name"], template_of(current_rev),
                     meta(update_rev)["name"])
        await sync.run()
        live = {meta(current_rev)["name"], meta(update_rev)["name"], *(_revision(p) for p in pods)}
        await truncate_history(self.client, revisions_of(self.revs.lister, sset), live,
                               int((sset.get("spec") or {}).get("revisionHistoryLimit", 10)))
        await self._write_status(sset, pods, sync, collision)
        return sync.requeue

    async def _write_status(self, sset: Obj, pods: list[Obj], sync: _Sync, collision: int) -> None:
        spec = sset.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.clock.time()
        st: Obj = {"observedGeneration": meta(sset).get("generation"), "replicas": 0, "readyReplicas": 0,
                   "currentReplicas": 0, "updatedReplicas": 0, "availableReplicas": 0,
                   "currentRevision": sync.current, "updateRevision": sync.update, "collisionCount": collision}
        for p in sync.live_pods(pods):
            st["replicas"] += 1
            if is_running_and_ready(p):
                st["readyReplicas"] += 1
                if is_available(p, min_ready, now):
                    st["availableReplicas"] += 1
                else:
                    sync.requeue_after(available_in(p, min_ready, now))
            if not is_terminating(p):
                rev = _revision(p)
                st["currentReplicas"] += rev == sync.current
                st["updatedReplicas"] += rev == sync.update
        us = spec.get("updateStrategy") or {}
        if (us.get("type", "RollingUpdate") == "RollingUpdate" and st["updatedReplicas"] == st["replicas"]
                and st["readyReplicas"] == st["replicas"]):
            st["currentRevision"], st["currentReplicas"] = sync.update, st["updatedReplicas"]
        for f in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if not st[f]:
                del st[f]
        old = sset.get("status") or {}
        if all(old.get(k) == v for k, v in st.items()) and set(old) - {"conditions"} <= set(st):
            return
        body = copy_obj(sset)
        body["status"] = {**st, **({"conditions": old["conditions"]} if old.get("conditions") else {})}
        try:
            await self.client.update_status(STATEFULSETS, body)
        except Exception as e:
            if not is_not_found(e):
                raise


class _Sync:
    """One pass of pod management for one StatefulSet (holds what the pass learned)."""

    def __init__(self, ctl: StatefulSetController, sset: Obj, pods: list[Obj], current: str,
                 current_template: Obj, update: str):
        self.ctl, self.sset, self.current, self.update = ctl, sset, current, update
        self.current_template = current_template
        spec = sset.get("spec") or {}
        self.spec = spec
        self.name, self.ns = meta(sset)["name"], meta(sset)["namespace"]
        self.start = start_ordinal(sset)
        self.replicas = int(spec.get("replicas", 1))
        self.monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        self.min_ready = int(spec.get("minReadySeconds") or 0)
        self.by_ordinal: dict[int, Obj] = {}
        for p in pods:
            o = ordinal_of(self.name, p)
            if o is not None:
                self.by_ordinal[o] = p
        self.requeue: float | None = None

    def requeue_after(self, seconds: float | None) -> None:
        if seconds is not None and seconds > 0:
            self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def live_pods(self, pods: list[Obj]) -> list[Obj]:
        return [p for p in pods if ordinal_of(self.name, p) is not None]

    def in_range(self, ordinal: int) -> bool:
        return self.start <= ordinal < self.start + self.replicas

    def healthy(self, pod: Obj) -> bool:
        now = self.ctl.ctx.clock.time()
        if is_running_and_ready(pod) and is_available(pod, self.min_ready, now):
            return True
        self.requeue_after(available_in(pod, self.min_ready, now))
        return False

    def _template_for(self, ordinal: int) -> tuple[Obj, str]:
        us = self.spec.get("updateStrategy") or {}
        partition = int((us.get("rollingUpdate") or {}).get("partition") or 0)
        if us.get("type", "RollingUpdate") == "RollingUpdate" and ordinal < self.start + partition:
            return self.current_template, self.current
        return self.spec.get("template") or {}, self.update

    async def run(self) -> None:
        if not await self._replicas():
            return
        if not await self._condemned():
            return
        await self._rolling_update()

    async def _replicas(self) -> bool:
        """Create/replace pods in range; False when OrderedReady must wait."""
        for ordinal in range(self.start, self.start + self.replicas):
            pod = self.by_ordinal.get(ordinal)
            if pod is not None and phase(pod) in ("Failed", "Succeeded") and not is_terminating(pod):
                self.ctl.recorder.emit(self.sset, "Warning", "RecreatingFailedPod",
                                       f"StatefulSet {self.ns}/{self.name} is recreating failed Pod "
                                       f"{meta(pod)['name']}")
                await self._delete_pod(pod)
                if self.monotonic:
                    return False
                continue
            if pod is None:
                await self._create(ordinal)
                if self.monotonic:
                    return False
                continue
            if is_terminating(pod) or not self.healthy(pod):
                if self.monotonic:
                    return False
                continue
            await self._sync_claim_refs(pod, False)
        return True

    async def _condemned(self) -> bool:
        """Delete pods beyond the range, highest ordinal first; False when we must wait."""
        condemned = sorted((o for o in self.by_ordinal if not self.in_range(o)), reverse=True)
        unhealthy = [o for o in sorted(condemned) if not is_terminating(self.by_ordinal[o])
                     and not is_running_and_ready(self.by_ordinal[o])]
        for o in condemned:
            pod = self.by_ordinal[o]
            if is_terminating(pod):
                if self.monotonic:
                    return False
                continue
            # OrderedReady: an unhealthy pod blocks unless it is the first unhealthy one
            if self.monotonic and not is_running_and_ready(pod) and o != unhealthy[0]:
                return False
            await self._sync_claim_refs(pod, True)
            await self._delete_pod(pod)
            if self.monotonic:
                return False
        return not condemned

    async def _rolling_update(self) -> None:
        us = self.spec.get("updateStrategy") or {}
        if us.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((us.get("rollingUpdate") or {}).get("partition") or 0)
        for ordinal in range(self.start + self.replicas - 1, self.start + partition - 1, -1):
            pod = self.by_ordinal.get(ordinal)
            if pod is None:
                return
            if _revision(pod) != self.update and not is_terminating(pod):
                await self._delete_pod(pod)
                return
            if is_terminating(pod) or not self.healthy(pod):
                return

    # -- writes --------------------------------------------------------------------------------

    async def _create(self, ordinal: int) -> None:
        template, rev = self._template_for(ordinal)
        pod = new_pod(self.sset, template, ordinal, rev)
        rec = self.ctl.recorder
        for claim in new_claims(self.sset, ordinal):
            cname = claim["metadata"]["name"]
            existing = self.ctl.pvcs.lister.get(cname, self.ns)
            if existing is not None:
                continue
            refs = desired_claim_refs(claim, self.sset, None, False)
            if refs:
                claim["metadata"]["ownerReferences"] = refs
            try:
                await self.ctl.client.create(PVCS, claim)
                rec.emit(self.sset, "Normal", "SuccessfulCreate",
                         f"create Claim {cname} Pod {pod['metadata']['name']} in StatefulSet {self.name} success")
            except Exception as e:
                if not is_already_exists(e):
                    rec.emit(self.sset, "Warning", "FailedCreate",
                             f"create Claim {cname} for Pod {pod['metadata']['name']} in StatefulSet "
                             f"{self.name} failed error: {e}")
                    raise
        try:
            await self.ctl.client.create(PODS, pod)
        except Exception as e:
            if is_already_exists(e):
                return
            rec.emit(self.sset, "Warning", "FailedCreate",
                     f"create Pod {pod['metadata']['name']} in StatefulSet {self.name} failed error: {e}")
            raise
        rec.emit(self.sset, "Normal", "SuccessfulCreate",
                 f"create Pod {pod['metadata']['name']} in StatefulSet {self.name} successful")

    async def _delete_pod(self, pod: Obj) -> None:
        pname = meta(pod)["name"]
        try:
            await self.ctl.client.delete(PODS, pname, self.ns, preconditions={"uid": meta(pod)["uid"]})
        except Exception as e:
            if is_not_found(e) or is_conflict(e):
                return
            self.ctl.recorder.emit(self.sset, "Warning", "FailedDelete",
                                   f"delete Pod {pname} in StatefulSet {self.name} failed error: {e}")
            raise
        self.ctl.recorder.emit(self.sset, "Normal", "SuccessfulDelete",
                               f"delete Pod {pname} in StatefulSet {self.name} successful")

    async def _sync_claim_refs(self, pod: Obj, condemned: bool) -> None:
        ordinal = ordinal_of(self.name, pod)
        if ordinal is None:
            return
        for claim in new_claims(self.sset, ordinal):
            cur = self.ctl.pvcs.lister.get(claim["metadata"]["name"], self.ns)
            if cur is None:
                continue
            refs = desired_claim_refs(cur, self.sset, pod, condemned)
            if refs is None:
                continue
            body: Any = {"metadata": {"ownerReferences": refs, "resourceVersion": meta(cur)["resourceVersion"]}}
            try:
                await self.ctl.client.patch(PVCS, meta(cur)["name"], body, self.ns)
            except Exception as e:
                if not is_not_found(e):
                    raise
