"""VolumeRestrictions (ReadWriteOncePod part): one pod at a time may use a ReadWriteOncePod claim.

Upstream 1.32: when an already scheduled pod (on any node) uses a claim that this pod also
uses with access mode ReadWriteOncePod, every node fails with "node has pod using
PersistentVolumeClaim with the same name and ReadWriteOncePod access mode" (Unschedulable,
so preemption may evict the holder if it has lower priority). The pod is retried when an
assigned pod goes away.
"""

from __future__ import annotations

from tugboat.api.storage_binding import pod_claim_names, spec
from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import CycleState, Plugin
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status, unschedulable

ERR_RWOP_CONFLICT = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"


class VolumeRestrictions(Plugin):
    name = "VolumeRestrictions"
    events = frozenset({ev.POD_DELETE, "PersistentVolumeClaim/All"})

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        names = pod_claim_names(pi.pod)
        pvcs = self.handle.lister("persistentvolumeclaims") if names else None
        if pvcs is None:
            return SKIP
        rwop = set()
        for n in names:
            pvc = pvcs.get(n, pi.namespace)
            if pvc is not None and "ReadWriteOncePod" in (spec(pvc).get("accessModes") or ()):
                rwop.add(n)
        if not rwop:
            return SKIP
        conflict = False
        for ni in self.handle.cache.node_list():
            for other in ni.pods.values():
                if other.key != pi.key and other.namespace == pi.namespace and rwop & set(pod_claim_names(other.pod)):
                    conflict = True
                    break
            if conflict:
                break
        state["VolumeRestrictions"] = conflict
        return None if conflict else SKIP

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        return unschedulable(ERR_RWOP_CONFLICT) if state.get("VolumeRestrictions") else None
