"""Taint-based eviction: delete pods on nodes with NoExecute taints they do not tolerate.

Why separate from the node lifecycle controller: upstream split it out (the
taint-eviction-controller) because any NoExecute taint evicts, not only the health ones.

Rules (upstream 1.32 pkg/controller/tainteviction):
* A pod that does not tolerate every NoExecute taint of its node is deleted at once.
* Otherwise it is deleted after the smallest tolerationSeconds among the matching tolerations
  (<= 0 means now); tolerations without tolerationSeconds tolerate forever.
* Before deleting, the pod gets the condition DisruptionTarget=True (DeletionByTaintManager),
  and a `TaintManagerEviction` event.

The countdown starts at the taint's timeAdded for pods that were on the node then (so it
survives a controller restart; upstream keeps it only in memory), else when we first saw the pod.
"""

from __future__ import annotations

from typing import Any

from tugboat.client import Controller, WorkQueue, deleted_object, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.client.indexer import split_key
from tugboat.controllers import nodelifecycle_taints as nt
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.util.clock import parse_rfc3339, rfc3339

Obj = dict[str, Any]


def _no_execute(node: Obj | None) -> list[Obj]:
    return [t for t in nt.taints(node or {}) if t.get("effect") == nt.NO_EXECUTE]


@register
class TaintEvictionController(BaseController):
    name = "taint-eviction-controller"
    workers = 4

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = Controller(self.name, self.reconcile, workers=self.workers,
                               queue=WorkQueue(self.name, clock=ctx.clock))
        self.pods_rt = ctx.rt("", "v1", "pods")
        self.events = ctx.recorder("taint-eviction-controller")
        self.first_seen: dict[str, float] = {}

    def setup(self) -> None:
        self.pods = self.ctx.informers.informer(self.pods_rt, indexers={nt.NODE_NAME_INDEX: nt.node_name_index})
        self.nodes = self.ctx.informers.informer(self.ctx.rt("", "v1", "nodes"))
        self.pods.add_event_handler(on_add=self._pod, on_update=lambda _o, n: self._pod(n),
                                    on_delete=lambda o: self.first_seen.pop(
                                        deleted_object(o)["metadata"].get("uid", ""), None))
        self.nodes.add_event_handler(on_add=self._node, on_update=self._node_update)

    def _pod(self, pod: Obj) -> None:
        node = self.nodes.lister.get((pod.get("spec") or {}).get("nodeName") or "")
        if _no_execute(node):
            self.enqueue(pod)

    def _node(self, node: Obj) -> None:
        if _no_execute(node):
            for pod in self.pods.lister.by_index(nt.NODE_NAME_INDEX, node["metadata"]["name"]):
                self.enqueue(pod)

    def _node_update(self, old: Obj, new: Obj) -> None:
        if _no_execute(old) != _no_execute(new):
            self._node(new)

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        pod = self.pods.lister.get(name, ns)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return None
        uid = pod["metadata"].get("uid", "")
        taints = _no_execute(self.nodes.lister.get((pod.get("spec") or {}).get("nodeName") or ""))
        if not taints:
            self.first_seen.pop(uid, None)
            return None
        tols = matching = nt.matching_tolerations(taints, list((pod.get("spec") or {}).get("tolerations") or ()))
        now = self.ctx.clock.time()
        if matching is None:
            await self._evict(pod)
            return None
        wait = nt.min_toleration_seconds(tols or [])
        if wait < 0:
            return None
        start = self._start(pod, taints, uid, now)
        due = start + wait - now
        if due > 0:
            return due
        await self._evict(pod)
        return None

    def _start(self, pod: Obj, taints: list[Obj], uid: str, now: float) -> float:
        added = [t for t in (nt.taint_time(x) for x in taints) if t is not None]
        created = pod["metadata"].get("creationTimestamp")
        if added and (not created or parse_rfc3339(created) <= max(added)):
            return max(added)  # the pod was there when the node was tainted
        return self.first_seen.setdefault(uid, now)

    async def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        self.events.emit(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}")
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": rfc3339(self.ctx.clock.time())}
        try:
            await self.client.patch(self.pods_rt, name, {"status": {"conditions": [cond]}}, ns,
                                    patch_type="strategic", subresource="status")
            await self.client.delete(self.pods_rt, name, ns, preconditions={"uid": meta.get("uid", "")})
        except ApiStatusError as e:
            if not is_not_found(e) and e.code != 409:
                raise
        self.first_seen.pop(meta.get("uid", ""), None)
