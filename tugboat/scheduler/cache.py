"""The scheduler's cache: NodeInfos with running request sums, and where every pod sits.

Pods count against a node the moment the scheduler decides (`assume`), before the bind's
effect comes back through the watch, so the next cycle already sees the resources as taken.
When the watch confirms the pod on a node (`add_pod`) the assumed entry is replaced; when the
bind fails the scheduler `forget`s it. Terminal pods (Succeeded/Failed) hold no resources.

Scheduling cycles run synchronously on the event loop, so a cycle reads the cache directly:
nothing can change under it between two awaits, which makes the per-cycle snapshot free.
The node order used for round-robin search is interleaved by zone (upstream's nodeTree) and
rebuilt lazily after membership or zone changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tugboat.scheduler.helpers import ZONE
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo

REGION = "topology.kubernetes.io/region"


def zone_of(labels: Mapping[str, str]) -> str:
    return f"{labels.get(REGION, '')}:\x00:{labels.get(ZONE, '')}"


class Cache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, tuple[PodInfo, str]] = {}  # key -> (info, node)
        self.assumed: set[str] = set()
        self.ns_labels: dict[str, Mapping[str, str]] = {}
        self.affinity_pods = 0  # pods with (anti-)affinity placed anywhere
        self.soft_tainted: set[str] = set()  # nodes with PreferNoSchedule taints
        self.image_nodes: dict[str, int] = {}  # normalized image -> number of nodes that have it
        self._order: list[NodeInfo] = []
        self._order_dirty = False
        self.order_version = 0
        self.position: dict[str, int] = {}
        self.generation = 0
        # names of nodes whose NodeInfo changed, for the framework's per-signature memos
        self.change_log: list[str] = []
        self.log_base = 0

    def _changed(self, name: str) -> None:
        self.generation += 1
        log = self.change_log
        log.append(name)
        if len(log) > 200_000:
            drop = len(log) // 2
            del log[:drop]
            self.log_base += drop

    def changes_since(self, pos: int) -> list[str] | None:
        """Node names changed since log position `pos` (None: too old, recompute everything)."""
        if pos < self.log_base:
            return None
        return self.change_log[pos - self.log_base:]

    @property
    def log_pos(self) -> int:
        return self.log_base + len(self.change_log)

    # -- nodes ---------------------------------------------------------------------------------

    def node_list(self) -> list[NodeInfo]:
        if self._order_dirty:
            zones: dict[str, list[NodeInfo]] = {}
            for ni in self.nodes.values():
                if ni.node is not None:
                    zones.setdefault(zone_of(ni.labels), []).append(ni)
            order: list[NodeInfo] = []
            lists = list(zones.values())
            i = 0
            while lists:
                lists = [lst for lst in lists if len(lst) > i]
                order.extend(lst[i] for lst in lists)
                i += 1
            self._order = order
            self._order_dirty = False
            self.order_version += 1
            self.position = {ni.name: i for i, ni in enumerate(order)}
        return self._order

    def set_node(self, node: Mapping[str, Any]) -> NodeInfo:
        name = (node.get("metadata") or {}).get("name") or ""
        ni = self.nodes.get(name)
        if ni is None:
            ni = self.nodes[name] = NodeInfo(name, node)
            self._order_dirty = True
            self._count_images(ni, 1)
        else:
            self._count_images(ni, -1)
            was = ni.node
            old_zone = zone_of(ni.labels)
            ni.set_node(node)
            self._count_images(ni, 1)
            if was is None or zone_of(ni.labels) != old_zone:
                self._order_dirty = True
        if ni.soft_taints:
            self.soft_tainted.add(name)
        else:
            self.soft_tainted.discard(name)
        self._changed(name)
        return ni

    def remove_node(self, name: str) -> None:
        ni = self.nodes.get(name)
        if ni is None:
            return
        self._count_images(ni, -1)
        ni.images = {}
        self.soft_tainted.discard(name)
        if ni.pods:
            ni.node = None  # keep the pods' accounting until they go too (upstream does)
        else:
            del self.nodes[name]
        self._order_dirty = True
        self._changed(name)

    def _count_images(self, ni: NodeInfo, sign: int) -> None:
        counts = self.image_nodes
        for img in ni.images:
            n = counts.get(img, 0) + sign
            if n > 0:
                counts[img] = n
            else:
                counts.pop(img, None)

    # -- pods ----------------------------------------------------------------------------------

    def _place(self, pi: PodInfo, node: str) -> None:
        ni = self.nodes.get(node)
        if ni is None:
            ni = self.nodes[node] = NodeInfo(node)
        ni.add_pod(pi)
        self.pods[pi.key] = (pi, node)
        if pi.has_affinity:
            self.affinity_pods += 1
        self._changed(node)

    def _unplace(self, key: str) -> PodInfo | None:
        entry = self.pods.pop(key, None)
        if entry is None:
            return None
        pi, node = entry
        ni = self.nodes.get(node)
        if ni is not None:
            ni.remove_pod(pi)
            if ni.node is None and not ni.pods:
                del self.nodes[node]
        if pi.has_affinity:
            self.affinity_pods -= 1
        self._changed(node)
        return pi

    def assume(self, pi: PodInfo, node: str) -> None:
        self._unplace(pi.key)
        pi.node_name = node
        self._place(pi, node)
        self.assumed.add(pi.key)

    def forget(self, key: str) -> None:
        if key in self.assumed:
            self.assumed.discard(key)
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        return key in self.assumed

    def add_pod(self, pi: PodInfo) -> None:
        """A pod observed bound to a node (replaces an assumed entry for the same key)."""
        self.assumed.discard(pi.key)
        self._unplace(pi.key)
        self._place(pi, pi.node_name)

    def confirm(self, key: str, pod: Mapping[str, Any], node: str) -> bool:
        """The watch shows our assumed pod bound to the node we chose: keep its parsed info."""
        entry = self.pods.get(key)
        if entry is None or key not in self.assumed or entry[1] != node:
            return False
        if entry[0].uid != (pod.get("metadata") or {}).get("uid"):
            return False
        entry[0].pod = pod
        self.assumed.discard(key)
        return True

    def remove_pod(self, key: str) -> PodInfo | None:
        self.assumed.discard(key)
        return self._unplace(key)

    def pod(self, key: str) -> PodInfo | None:
        entry = self.pods.get(key)
        return entry[0] if entry else None
