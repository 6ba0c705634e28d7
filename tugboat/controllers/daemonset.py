"""DaemonSet controller: one pod on every eligible node, rolled like upstream's daemon controller.

Per reconcile: snapshot the template as a ControllerRevision (its hash labels the pods), then
* manage: create a pod for each eligible node that has none (pinned to it by a matchFields
  node affinity; the scheduler binds it), delete pods on nodes that are gone or may no longer
  run them, replace failed pods, keep one pod per node;
* RollingUpdate, maxSurge = 0: delete old pods (unavailable ones first, then up to
  maxUnavailable at a time); the manage step of a later pass recreates them from the new
  template. maxSurge > 0: start the new pod next to the old one (up to maxSurge nodes at a
  time) and delete the old one once the new one is available. OnDelete: nothing;
* status: desired/current/misscheduled/ready/updated/available/unavailable counts so
  `kubectl rollout status ds/x` and the DESIRED/CURRENT/READY columns work.
"""

from __future__ import annotations

import math
from typing import Any

from tugboat.api.kinds.apps_common import percent_value
from tugboat.client import copy_obj, deleted_object, is_not_found

from ._workload_pods import (
    CONTROLLER_REVISIONS,
    DAEMONSETS,
    NODES,
    OWNER_UID_INDEX,
    PODS,
    Expectations,
    Obj,
    available_in,
    clocked_loop,
    controller_of,
    controller_uid_index,
    create_in_batches,
    creation_time,
    is_available,
    is_ready,
    is_terminating,
    meta,
    phase,
)
from .base import BaseController, ControllerContext, register
from .controllerhistory import (
    REVISION_HASH_LABEL,
    RevisionCollision,
    ensure_revision,
    hash_template,
    revisions_of,
    template_patch,
    truncate_history,
)
from .daemonset_nodes import (
    TEMPLATE_GENERATION_ANNOTATION,
    TEMPLATE_GENERATION_LABEL,
    new_pod,
    should_run,
    target_node,
)

COMPONENT = "daemonset-controller"


def _scaled(v: Any, total: int) -> int:
    pct = percent_value(v)
    if pct is not None:
        return math.ceil(pct * total / 100)
    return int(v or 0)


@register
class DaemonSetController(BaseController):
    name = "daemonset"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = clocked_loop(self.name, self.reconcile, self.workers, ctx.clock)
        self.recorder = ctx.recorder(COMPONENT)
        self.expectations = Expectations(ctx.clock)

    def setup(self) -> None:
        inf = self.ctx.informers
        self.sets = inf.informer(DAEMONSETS)
        self.pods = inf.informer(PODS, indexers={OWNER_UID_INDEX: controller_uid_index})
        self.nodes = inf.informer(NODES)
        self.revs = inf.informer(CONTROLLER_REVISIONS)
        self.sets.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods.add_event_handler(on_add=self._pod_event, on_update=lambda _o, n: self._pod_event(n),
                                    on_delete=lambda o: self._pod_event(deleted_object(o)))
        self.nodes.add_event_handler(on_add=self._all, on_update=self._node_update, on_delete=self._all)

    def _pod_event(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == "DaemonSet":
            self.enqueue_key(f"{meta(pod).get('namespace')}/{ref.get('name')}")

    def _node_update(self, old: Obj, new: Obj) -> None:
        def view(n: Obj) -> Any:
            spec = n.get("spec") or {}
            return meta(n).get("labels"), spec.get("taints"), spec.get("unschedulable")
        if view(old) != view(new):
            self._all(new)

    def _all(self, _node: Any) -> None:
        for ds in self.sets.lister.list():
            self.enqueue(ds)

    def _cached(self, key: str) -> Obj | None:
        ns, _, name = key.partition("/")
        return self.pods.lister.get(name, ns)

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        ds = self.sets.lister.get(name, ns)
        if ds is None:
            self.expectations.forget(key)
            return None
        if is_terminating(ds):
            return None
        status = ds.get("status") or {}
        collision = status.get("collisionCount")
        template = (ds.get("spec") or {}).get("template") or {}
        hash_ = hash_template(template, collision)
        revs = revisions_of(self.revs.lister, ds)
        try:
            rev = await ensure_revision(self.client, ds, "apps/v1", "DaemonSet", revs, template_patch(template),
                                        hash_, (template.get("metadata") or {}).get("labels"))
        except RevisionCollision:
            await self.client.patch(DAEMONSETS, name, {"status": {"collisionCount": int(collision or 0) + 1}}, ns,
                                    subresource="status")
            raise
        hash_ = (meta(rev).get("labels") or {}).get(REVISION_HASH_LABEL, hash_)
        sync = _Sync(self, key, ds, hash_)
        if self.expectations.satisfied(key, self._cached):
            await sync.manage()
            if sync.quiet:
                await sync.rolling_update()
        pods = self.pods.lister.by_index(OWNER_UID_INDEX, meta(ds)["uid"])
        live = {meta(rev)["name"]} | {f"{name}-{(meta(p).get('labels') or {}).get(REVISION_HASH_LABEL)}"
                                      for p in pods}
        await truncate_history(self.client, revisions_of(self.revs.lister, ds), live,
                               int((ds.get("spec") or {}).get("revisionHistoryLimit", 10)))
        await sync.write_status()
        return sync.requeue


class _Sync:
    def __init__(self, ctl: DaemonSetController, key: str, ds: Obj, hash_: str):
        self.ctl, self.key, self.ds, self.hash = ctl, key, ds, hash_
        self.spec: Obj = ds.get("spec") or {}
        self.ns, self.name = meta(ds)["namespace"], meta(ds)["name"]
        self.min_ready = int(self.spec.get("minReadySeconds") or 0)
        self.now = ctl.ctx.clock.time()
        self.requeue: float | None = None
        self.quiet = True  # manage() changed nothing
        self.gen = (meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
        self.nodes = {meta(n)["name"]: n for n in ctl.nodes.lister.list()}
        self.by_node: dict[str, list[Obj]] = {}
        self.orphans: list[Obj] = []
        for p in ctl.pods.lister.by_index(OWNER_UID_INDEX, meta(ds)["uid"]):
            if is_terminating(p):
                continue
            node = target_node(p)
            if node is None or node not in self.nodes:
                self.orphans.append(p)
            else:
                self.by_node.setdefault(node, []).append(p)
        for pods in self.by_node.values():
            pods.sort(key=creation_time)

    def updated(self, pod: Obj) -> bool:
        labels = meta(pod).get("labels") or {}
        if self.gen is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(self.gen):
            return True
        return labels.get(REVISION_HASH_LABEL) == self.hash

    def available(self, pod: Obj) -> bool:
        ok = is_available(pod, self.min_ready, self.now)
        left = available_in(pod, self.min_ready, self.now)
        if left is not None:
            self.requeue = left if self.requeue is None else min(self.requeue, left)
        return ok

    def surge(self) -> int:
        ru = (self.spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        return _scaled(ru.get("maxSurge"), self._desired())

    def _desired(self) -> int:
        return sum(1 for n in self.nodes.values() if should_run(self.ds, n)[0])

    async def manage(self) -> None:
        create: list[str] = []
        delete: list[Obj] = list(self.orphans)
        surge = self.surge() > 0
        for name, node in self.nodes.items():
            run, cont = should_run(self.ds, node)
            pods = self.by_node.get(name, [])
            if run and not pods:
                create.append(name)
            elif not cont:
                delete += pods
            elif pods:
                failed = [p for p in pods if phase(p) == "Failed"]
                if failed:
                    self.ctl.recorder.emit(self.ds, "Warning", "FailedDaemonPod",
                                           f"Found failed daemon pod {self.ns}/{meta(failed[0])['name']} on "
                                           f"node {name}, will try to kill it")
                delete += failed
                ok = [p for p in pods if phase(p) != "Failed"]
                if surge:
                    new = [p for p in ok if self.updated(p)]
                    old = [p for p in ok if not self.updated(p)]
                    delete += new[1:] + old[1:]
                else:
                    delete += ok[1:]
        self.quiet = not create and not delete
        await self._delete(delete)
        await self._create(create)

    async def rolling_update(self) -> None:
        us = self.spec.get("updateStrategy") or {}
        if us.get("type", "RollingUpdate") != "RollingUpdate":
            return
        desired = self._desired()
        ru = us.get("rollingUpdate") or {}
        max_surge = _scaled(ru.get("maxSurge"), desired)
        max_unavail = _scaled(ru.get("maxUnavailable", 1), desired)
        if max_surge == 0 and max_unavail == 0:
            max_unavail = 1
        eligible = {n for n, node in self.nodes.items() if should_run(self.ds, node)[1]}
        old_delete: list[Obj] = []
        if max_surge == 0:
            unavailable = 0
            allowed: list[Obj] = []
            candidates: list[Obj] = []
            for node, pods in self.by_node.items():
                if node not in eligible:
                    continue
                new = next((p for p in pods if self.updated(p)), None)
                old = next((p for p in pods if not self.updated(p)), None)
                if (new is None) == (old is None):
                    unavailable += 1
                elif new is not None:
                    unavailable += not self.available(new)
                elif old is not None and not self.available(old):
                    allowed.append(old)
                elif old is not None and unavailable < max_unavail:
                    candidates.append(old)
            room = max(0, min(max_unavail - unavailable, len(candidates)))
            await self._delete(allowed + candidates[:room])
            return
        surging, new_nodes, allowed_nodes, candidate_nodes = 0, [], [], []
        for node, pods in self.by_node.items():
            if node not in eligible:
                continue
            new = next((p for p in pods if self.updated(p)), None)
            old = next((p for p in pods if not self.updated(p)), None)
            if old is None:
                continue
            if new is None:
                if not self.available(old):
                    allowed_nodes.append(node)
                elif surging < max_surge:
                    candidate_nodes.append(node)
            elif not self.available(new):
                surging += 1
            else:
                old_delete.append(old)
        room = max(0, min(max_surge - surging, len(candidate_nodes)))
        new_nodes = allowed_nodes + candidate_nodes[:room]
        await self._delete(old_delete)
        await self._create(new_nodes)

    async def _create(self, nodes: list[str]) -> None:
        async def one(i: int) -> None:
            out = await self.ctl.client.create(PODS, new_pod(self.ds, nodes[i], self.hash))
            self.ctl.expectations.expect_create(self.key, f"{self.ns}/{meta(out)['name']}")
            self.ctl.recorder.emit(self.ds, "Normal", "SuccessfulCreate", f"Created pod: {meta(out)['name']}")
        try:
            await create_in_batches(len(nodes), one)
        except Exception as e:
            self.ctl.recorder.emit(self.ds, "Warning", "FailedCreate", f"Error creating: {e}")
            raise

    async def _delete(self, pods: list[Obj]) -> None:
        for p in pods:
            pname = meta(p)["name"]
            try:
                await self.ctl.client.delete(PODS, pname, self.ns, preconditions={"uid": meta(p)["uid"]})
            except Exception as e:
                if is_not_found(e):
                    continue
                raise
            self.ctl.expectations.expect_delete(self.key, f"{self.ns}/{pname}")
            self.ctl.recorder.emit(self.ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pname}")

    async def write_status(self) -> None:
        st: dict[str, Any] = {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
              "numberReady": 0, "updatedNumberScheduled": 0, "numberAvailable": 0}
        for name, node in self.nodes.items():
            run, _ = should_run(self.ds, node)
            pods = [p for p in self.by_node.get(name, []) if phase(p) != "Failed"]
            if run:
                st["desiredNumberScheduled"] += 1
                if pods:
                    st["currentNumberScheduled"] += 1
                    pod = pods[0]
                    if is_ready(pod):
                        st["numberReady"] += 1
                        st["numberAvailable"] += self.available(pod)
                    st["updatedNumberScheduled"] += any(self.updated(p) for p in pods)
            elif pods:
                st["numberMisscheduled"] += 1
        st["numberUnavailable"] = st["desiredNumberScheduled"] - st["numberAvailable"]
        st["observedGeneration"] = meta(self.ds).get("generation")
        old = self.ds.get("status") or {}
        new = {k: v for k, v in st.items()
               if v or k in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")}
        if old.get("collisionCount") is not None:
            new["collisionCount"] = old["collisionCount"]
        if old.get("conditions"):
            new["conditions"] = old["conditions"]
        if new == old:
            return
        body = copy_obj(self.ds)
        body["status"] = new
        try:
            await self.ctl.client.update_status(DAEMONSETS, body)
        except Exception as e:
            if not is_not_found(e):
                raise
