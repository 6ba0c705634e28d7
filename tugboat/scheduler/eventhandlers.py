"""Informer callbacks: keep the cache and the queue in step with the cluster.

Assigned pods (spec.nodeName set, not terminal) live in the cache; unassigned pods for one of
our scheduler names live in the queue. A bind we made shows up as an update from unassigned to
assigned, which confirms the assumed pod. Node, pod and namespace changes are translated into
the cluster events the queue uses to retry unschedulable pods; node heartbeats that change
nothing the scheduler reads only swap the stored object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tugboat.client import deleted_object
from tugboat.scheduler import events as ev
from tugboat.scheduler.cache import Cache
from tugboat.scheduler.handle import Handle
from tugboat.scheduler.podinfo import PodInfo, is_terminal
from tugboat.scheduler.queue import SchedulingQueue

Obj = Mapping[str, Any]


def _node_of(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def _pod_changed(old: Obj, new: Obj) -> bool:
    """Did anything the scheduler parses change (not just status)?"""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (om.get("labels") != nm.get("labels") or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
            or old.get("spec") != new.get("spec")
            or (old.get("status") or {}).get("nominatedNodeName") != (new.get("status") or {}).get("nominatedNodeName"))


class EventHandlers:
    def __init__(self, handle: Handle, queue: SchedulingQueue, names: set[str],
                 priority_of: Callable[[Obj], int]):
        self.handle = handle
        self.cache: Cache = handle.cache
        self.queue = queue
        self.names = names
        self.priority_of = priority_of

    def pod_info(self, pod: Obj) -> PodInfo:
        return PodInfo(pod, self.priority_of(pod))

    def responsible(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or "default-scheduler") in self.names

    # -- pods ----------------------------------------------------------------------------------

    def on_pod_add(self, pod: Obj) -> None:
        if _node_of(pod):
            if not is_terminal(pod):
                self.cache.add_pod(self.pod_info(pod))
                self.queue.move_all(ev.POD_ADD)
            return
        if self.responsible(pod) and not is_terminal(pod):
            pi = self.pod_info(pod)
            if pi.nominated_node:
                self.handle.nominate(pi, pi.nominated_node)
            self.queue.add(pi, pi.created or None)

    def on_pod_update(self, old: Obj, new: Obj) -> None:
        key = _key(new)
        if _node_of(new):
            if is_terminal(new):
                if self.cache.remove_pod(key) is not None:
                    self.queue.move_all(ev.POD_DELETE)
                return
            if not _node_of(old) or key not in self.cache.pods:
                self.queue.delete(key)
                self.handle.clear_nomination(key)
                if not self.cache.confirm(key, new, _node_of(new)):
                    self.cache.add_pod(self.pod_info(new))
                return
            if not _pod_changed(old, new):
                entry = self.cache.pods.get(key)
                if entry is not None:
                    entry[0].pod = new
                return
            self.cache.add_pod(self.pod_info(new))
            if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
                self.queue.move_all(ev.POD_LABEL)
            else:
                self.queue.move_all(ev.POD_SCALE_DOWN)
            return
        if not self.responsible(new) or is_terminal(new):
            self.queue.delete(key)
            return
        if self.cache.is_assumed(key):
            return  # our bind is in flight
        changed = _pod_changed(old, new)
        qpi = self.queue.pods.get(key)
        if qpi is not None and not changed:
            qpi.pi.pod = new
            return
        pi = self.pod_info(new)
        if pi.nominated_node:
            self.handle.nominate(pi, pi.nominated_node)
        else:
            self.handle.clear_nomination(key)
        self.queue.update(pi, spec_changed=changed)

    def on_pod_delete(self, obj: Any) -> None:
        pod = deleted_object(obj)
        key = _key(pod)
        self.queue.delete(key)
        self.handle.clear_nomination(key)
        if self.cache.remove_pod(key) is not None:
            self.queue.move_all(ev.POD_DELETE)

    # -- nodes ---------------------------------------------------------------------------------

    def on_node_add(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all(ev.NODE_ADD)

    def on_node_update(self, old: Obj, new: Obj) -> None:
        os_, ns_ = old.get("spec") or {}, new.get("spec") or {}
        ost, nst = old.get("status") or {}, new.get("status") or {}
        events = []
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            events.append(ev.NODE_LABEL)
        if os_.get("taints") != ns_.get("taints") or os_.get("unschedulable") != ns_.get("unschedulable"):
            events.append(ev.NODE_TAINT)
        if ost.get("allocatable") != nst.get("allocatable") or ost.get("capacity") != nst.get("capacity"):
            events.append(ev.NODE_ALLOCATABLE)
        name = (new.get("metadata") or {}).get("name") or ""
        ni = self.cache.nodes.get(name)
        if ni is not None and ni.node is not None and not events and ost.get("images") == nst.get("images"):
            ni.node = new  # a heartbeat: nothing the scheduler reads changed
            return
        self.cache.set_node(new)
        for e in events:
            self.queue.move_all(e)

    def on_node_delete(self, obj: Any) -> None:
        node = deleted_object(obj)
        self.cache.remove_node((node.get("metadata") or {}).get("name") or "")
        self.queue.move_all(ev.NODE_DELETE)

    # -- others --------------------------------------------------------------------------------

    def on_namespace(self, ns: Obj, _new: Obj | None = None) -> None:
        obj = _new if _new is not None else ns
        md = obj.get("metadata") or {}
        name = md.get("name") or ""
        labels = md.get("labels") or {}
        if self.cache.ns_labels.get(name) != labels:
            self.cache.ns_labels[name] = labels
            self.queue.move_all(ev.NAMESPACE_LABEL)

    def on_namespace_delete(self, obj: Any) -> None:
        self.cache.ns_labels.pop((deleted_object(obj).get("metadata") or {}).get("name") or "", None)

    def on_pdb(self, *_: Any) -> None:
        self.queue.move_all(ev.PDB_CHANGE)
