"""NodeInfo: one node's parsed allocatable plus the running sums of the pods placed on it.

Kept incrementally by the cache (a pod added or removed adjusts the sums), so a filter is a
handful of int comparisons and never walks the node's pods. Taints are pre-split by effect,
and `blocked` says whether any NoSchedule/NoExecute taint (or spec.unschedulable) exists, so
the common untainted node costs one attribute read in the taint filters.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.resources import CPU, EPHEMERAL, MEMORY, PODS, is_scalar, parse_list

WILDCARD_IP = "0.0.0.0"
_generation = itertools.count(1)  # global, so a re-created node never repeats a generation


def normalize_image(name: str) -> str:
    """Upstream's image-locality normalisation: no tag and no digest → ':latest'."""
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in name:
        return name + ":latest"
    return name


class NodeInfo:
    __slots__ = (
        "name", "node", "labels", "hard_taints", "soft_taints", "unschedulable", "blocked",
        "alloc_cpu", "alloc_mem", "alloc_eph", "alloc_pods", "alloc_scalar",
        "req_cpu", "req_mem", "req_eph", "req_scalar", "nz_cpu", "nz_mem",
        "pods", "pods_with_affinity", "pods_with_required_anti", "used_ports", "images", "generation",
        "label_counts", "label_sets",
    )

    def __init__(self, name: str, node: Mapping[str, Any] | None = None):
        self.name = name
        self.node: Mapping[str, Any] | None = None
        self.labels: Mapping[str, str] = {}
        self.hard_taints: list[Mapping[str, Any]] = []
        self.soft_taints: list[Mapping[str, Any]] = []
        self.unschedulable = False
        self.blocked = False
        self.alloc_cpu = self.alloc_mem = self.alloc_eph = self.alloc_pods = 0
        self.alloc_scalar: dict[str, int] = {}
        self.req_cpu = self.req_mem = self.req_eph = 0
        self.req_scalar: dict[str, int] = {}
        self.nz_cpu = self.nz_mem = 0
        self.pods: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti: dict[str, PodInfo] = {}
        # non-terminating pods per (namespace, labels) group, and each group's labels: counting
        # the pods a selector matches costs one match per group instead of one per pod
        self.label_counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self.label_sets: dict[tuple[str, tuple[tuple[str, str], ...]], Mapping[str, str]] = {}
        self.used_ports: dict[tuple[str, int], list[str]] = {}
        self.images: dict[str, int] = {}
        self.generation = next(_generation)
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Mapping[str, Any]) -> None:
        self.node = node
        md = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.labels = md.get("labels") or {}
        taints = spec.get("taints") or []
        self.hard_taints = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
        self.soft_taints = [t for t in taints if t.get("effect") == "PreferNoSchedule"]
        self.unschedulable = bool(spec.get("unschedulable"))
        self.blocked = self.unschedulable or bool(self.hard_taints)
        alloc = parse_list(status.get("allocatable") or status.get("capacity"))
        self.alloc_cpu = alloc.get(CPU, 0)
        self.alloc_mem = alloc.get(MEMORY, 0)
        self.alloc_eph = alloc.get(EPHEMERAL, 0)
        self.alloc_pods = alloc.get(PODS, 0)
        self.alloc_scalar = {k: v for k, v in alloc.items() if is_scalar(k)}
        images: dict[str, int] = {}
        for img in status.get("images") or ():
            for n in img.get("names") or ():
                images[normalize_image(n)] = int(img.get("sizeBytes") or 0)
        self.images = images
        self.generation = next(_generation)

    def add_pod(self, pi: PodInfo, sign: int = 1) -> None:
        r = pi.requests
        self.req_cpu += sign * r.get(CPU, 0)
        self.req_mem += sign * r.get(MEMORY, 0)
        self.req_eph += sign * r.get(EPHEMERAL, 0)
        self.nz_cpu += sign * pi.nonzero_cpu
        self.nz_mem += sign * pi.nonzero_mem
        for k, v in r.items():
            if is_scalar(k):
                self.req_scalar[k] = self.req_scalar.get(k, 0) + sign * v
        for ip, proto, port in pi.ports:
            ips = self.used_ports.setdefault((proto, port), [])
            if sign > 0:
                ips.append(ip)
            elif ip in ips:
                ips.remove(ip)
        if sign > 0:
            self.pods[pi.key] = pi
            if pi.label_group is not None:
                self.label_counts[pi.label_group] = self.label_counts.get(pi.label_group, 0) + 1
                self.label_sets.setdefault(pi.label_group, pi.labels)
            if pi.has_affinity:
                self.pods_with_affinity[pi.key] = pi
            if pi.has_required_anti:
                self.pods_with_required_anti[pi.key] = pi
        else:
            placed = self.pods.pop(pi.key, None)
            group = placed.label_group if placed is not None else None
            if group is not None:
                left = self.label_counts.get(group, 0) - 1
                if left > 0:
                    self.label_counts[group] = left
                else:
                    self.label_counts.pop(group, None)
                    self.label_sets.pop(group, None)
            self.pods_with_affinity.pop(pi.key, None)
            self.pods_with_required_anti.pop(pi.key, None)
        self.generation = next(_generation)

    def remove_pod(self, pi: PodInfo) -> None:
        self.add_pod(pi, -1)

    def port_conflict(self, ports: list[tuple[str, str, int]]) -> bool:
        used = self.used_ports
        for ip, proto, port in ports:
            ips = used.get((proto, port))
            if ips and (ip == WILDCARD_IP or WILDCARD_IP in ips or ip in ips):
                return True
        return False

    def clone(self) -> NodeInfo:
        """A copy whose pod set and sums can be changed (preemption's what-if)."""
        c = NodeInfo(self.name)
        for s in NodeInfo.__slots__:
            setattr(c, s, getattr(self, s))
        c.req_scalar = dict(self.req_scalar)
        c.pods = dict(self.pods)
        c.label_counts = dict(self.label_counts)
        c.label_sets = dict(self.label_sets)
        c.pods_with_affinity = dict(self.pods_with_affinity)
        c.pods_with_required_anti = dict(self.pods_with_required_anti)
        c.used_ports = {k: list(v) for k, v in self.used_ports.items()}
        return c

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)}, cpu={self.req_cpu}/{self.alloc_cpu})"
