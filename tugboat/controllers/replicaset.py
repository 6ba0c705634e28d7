"""ReplicaSet and ReplicationController: keep N pods matching a selector (replica_set.go).

One implementation serves both kinds, as upstream's does; they differ only in the resource,
the selector form (LabelSelector vs a plain label map) and the event source name.

A sync claims the active pods in the namespace (adopting orphans that match, releasing
owned pods that stopped matching), then — only when the expectations from the previous
sync have been observed — creates the missing pods in slow-start batches or deletes the
surplus in upstream's preference order, and finally writes status. Expectations are what
make a restarted or lagging controller safe: they block a second round of creations
until the informer has seen the first.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from tugboat.api.selectors import LabelSelector, label_selector_from_dict, selector_from_set
from tugboat.client import (
    ApiStatusError,
    deleted_object,
    is_conflict,
    is_not_found,
    meta_namespace_key,
    split_key,
)
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.controllers.podcontrol import (
    BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH,
    Expectations,
    PodControl,
    controller_ref,
    is_pod_active,
    slow_start_batch,
)
from tugboat.controllers.podcontrol_claim import ClaimManager, recheck_owner
from tugboat.controllers.replicaset_status import calculate_status, pods_to_delete, requeue_for_availability

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class ReplicaManager(BaseController):
    """Base for the two registered kinds below."""

    group: ClassVar[str] = "apps"
    version: ClassVar[str] = "v1"
    plural: ClassVar[str] = "replicasets"
    component: ClassVar[str] = "replicaset-controller"
    workers = 5  # upstream --concurrent-replicaset-syncs

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.rt = ctx.rt(self.group, self.version, self.plural)
        self.pods_rt = ctx.rt("", "v1", "pods")
        self.expectations = Expectations(ctx.clock)
        self.recorder = ctx.recorder(self.component)
        self.pod_control = PodControl(ctx.client, self.pods_rt, self.recorder)

    # -- wiring ----------------------------------------------------------------------------------

    def setup(self) -> None:
        self.lister = self.ctx.informers.lister(self.rt)
        self.pods = self.ctx.informers.lister(self.pods_rt)
        self.ctx.informers.informer(self.rt).add_event_handler(
            on_add=self.enqueue, on_update=self._owner_updated, on_delete=self._owner_deleted)
        self.ctx.informers.informer(self.pods_rt).add_event_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    def selector(self, owner: Obj) -> LabelSelector:
        sel = (owner.get("spec") or {}).get("selector")
        if self.rt.kind == "ReplicationController":
            return selector_from_set(sel or {}) if sel else LabelSelector.match_nothing()
        try:
            return label_selector_from_dict(sel)
        except ValueError:
            return LabelSelector.match_nothing()

    def _owner_updated(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def _owner_deleted(self, obj: Any) -> None:
        o = deleted_object(obj)
        self.expectations.forget(meta_namespace_key(o))
        self.enqueue(o)

    def _resolve(self, pod: Obj, ref: Obj | None) -> str | None:
        """The key of the owner this controller ref points at, if it is one of ours."""
        if ref is None or ref.get("kind") != self.rt.kind or ref.get("apiVersion") != self.rt.api_version:
            return None
        ns = (pod.get("metadata") or {}).get("namespace")
        owner = self.lister.get(ref.get("name", ""), ns)
        if owner is None or (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return meta_namespace_key(owner)

    def _matching_owners(self, pod: Obj) -> list[str]:
        md = pod.get("metadata") or {}
        labels = md.get("labels") or {}
        out = []
        for o in self.lister.list(md.get("namespace")):
            sel = self.selector(o)
            if not sel.empty and sel.matches(labels):
                out.append(meta_namespace_key(o))
        return out

    def _pod_added(self, pod: Obj) -> None:
        md = pod.get("metadata") or {}
        if md.get("deletionTimestamp"):
            self._pod_deleted(pod)  # seen already terminating (e.g. after a restart)
            return
        ref = controller_ref(pod)
        if ref is not None:
            key = self._resolve(pod, ref)
            if key is not None:
                self.expectations.creation_observed(key)
                self.enqueue_key(key)
            return
        for key in self._matching_owners(pod):
            self.enqueue_key(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        omd, nmd = old.get("metadata") or {}, new.get("metadata") or {}
        if omd.get("resourceVersion") == nmd.get("resourceVersion"):
            return  # periodic resync
        labels_changed = omd.get("labels") != nmd.get("labels")
        if nmd.get("deletionTimestamp") and not omd.get("deletionTimestamp"):
            # Graceful deletion started: upstream counts the pod as deleted now.
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        cur, prev = controller_ref(new), controller_ref(old)
        if prev is not None and (cur is None or cur.get("uid") != prev.get("uid")):
            key = self._resolve(old, prev)
            if key:
                self.enqueue_key(key)
        if cur is not None:
            key = self._resolve(new, cur)
            if key:
                self.enqueue_key(key)
            return
        if labels_changed or prev is not None:
            for key in self._matching_owners(new):
                self.enqueue_key(key)

    def _pod_deleted(self, obj: Any) -> None:
        pod = deleted_object(obj)
        key = self._resolve(pod, controller_ref(pod))
        if key is None:
            return
        self.expectations.deletion_observed(key, meta_namespace_key(pod))
        self.enqueue_key(key)

    # -- sync ------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        owner = self.lister.get(name, ns)
        if owner is None:
            self.expectations.forget(key)
            return None
        need_sync = self.expectations.satisfied(key)
        selector = self.selector(owner)
        active = [p for p in self.pods.list(ns) if is_pod_active(p)]
        claimer = ClaimManager(self.client, owner, self.rt, selector, recheck_owner(self.client, self.rt, owner))
        pods = await claimer.claim(self.pods_rt, active)
        err: BaseException | None = None
        scale_up = len(pods) < int((owner.get("spec") or {}).get("replicas", 1))
        if need_sync and not (owner.get("metadata") or {}).get("deletionTimestamp"):
            try:
                await self.manage_replicas(key, owner, pods)
            except Exception as e:  # noqa: BLE001 - recorded in status, then retried
                err = e
        status = calculate_status(owner, pods, err, scale_up, self.ctx.clock.time())
        await self.update_status(owner, status)
        if err is not None:
            raise err
        return requeue_for_availability(owner, status)

    async def manage_replicas(self, key: str, owner: Obj, pods: list[Obj]) -> None:
        spec = owner.get("spec") or {}
        diff = len(pods) - int(spec.get("replicas", 1))
        if diff < 0:
            n = min(-diff, BURST_REPLICAS)
            self.expectations.expect_creations(key, n)
            template = spec.get("template") or {}

            async def create() -> None:
                await self.pod_control.create(owner, self.rt, template)

            done, err = await slow_start_batch(n, SLOW_START_INITIAL_BATCH, create)
            for _ in range(n - done):  # never attempted or failed: don't wait to see them
                self.expectations.creation_observed(key)
            if err is not None:
                raise err
        elif diff > 0:
            victims = pods_to_delete(pods, pods, min(diff, BURST_REPLICAS))
            self.expectations.expect_deletions(key, [meta_namespace_key(p) for p in victims])
            first: BaseException | None = None
            for p in victims:
                pmd = p["metadata"]
                try:
                    await self.pod_control.delete(owner, pmd.get("namespace", ""), pmd["name"])
                except Exception as e:  # noqa: BLE001
                    self.expectations.deletion_observed(key, meta_namespace_key(p))
                    if not is_not_found(e) and first is None:
                        first = e
            if first is not None:
                raise first

    async def update_status(self, owner: Obj, status: Obj) -> None:
        if (owner.get("status") or {}) == status:
            return
        md = owner["metadata"]
        body = {**owner, "status": status}
        for attempt in range(2):
            try:
                await self.client.update_status(self.rt, body, md.get("namespace"))
                return
            except ApiStatusError as e:
                if not is_conflict(e) or attempt:
                    raise
                fresh = await self.client.get(self.rt, md["name"], md.get("namespace"))
                if fresh["metadata"].get("uid") != md.get("uid"):
                    return
                body = {**fresh, "status": status}


@register
class ReplicaSetController(ReplicaManager):
    name = "replicaset"


@register
class ReplicationControllerController(ReplicaManager):
    name = "replicationcontroller"
    group = ""
    plural = "replicationcontrollers"
    component = "replication-controller"
