"""PodInfo: everything the scheduler needs from a pod, parsed once.

Filters run for hundreds of nodes per pod, so quantities, host ports, tolerations, node
selector terms and affinity terms are parsed when the pod enters the scheduler (or the cache),
not per node. The original dict is kept (read-only, from the informer) for API writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tugboat.scheduler.helpers import AffinityTerm, NodeTerm, parse_affinity_term, parse_node_term
from tugboat.scheduler.resources import (
    CPU,
    DEFAULT_MEMORY,
    DEFAULT_MILLI_CPU,
    MEMORY,
    host_ports,
    pod_requests,
)
from tugboat.util.clock import parse_rfc3339

PriorityResolver = Callable[[Mapping[str, Any]], int]


class PodInfo:
    __slots__ = (
        "pod", "key", "namespace", "name", "uid", "labels", "node_name", "scheduler_name", "priority",
        "requests", "nonzero_cpu", "nonzero_mem", "ports", "tolerations", "node_selector",
        "required_node_terms", "preferred_node_terms", "affinity_terms", "anti_affinity_terms",
        "preferred_affinity_terms", "preferred_anti_affinity_terms", "spread_constraints", "images",
        "created", "start_time", "preemption_policy", "nominated_node", "terminating", "has_affinity",
        "has_required_anti", "simple_requests", "label_group",
    )

    def __init__(self, pod: Mapping[str, Any], priority: int | None = None):
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.pod = pod
        self.namespace: str = md.get("namespace") or ""
        self.name: str = md.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = md.get("uid") or ""
        self.labels: Mapping[str, str] = md.get("labels") or {}
        self.node_name: str = spec.get("nodeName") or ""
        self.scheduler_name: str = spec.get("schedulerName") or "default-scheduler"
        self.priority: int = int(spec.get("priority") or 0) if priority is None else priority
        self.requests = pod_requests(spec)
        self.simple_requests = all(k in (CPU, MEMORY) for k in self.requests)  # fit fast path
        nz = pod_requests(spec, non_zero=True)
        self.nonzero_cpu = nz.get(CPU, DEFAULT_MILLI_CPU)
        self.nonzero_mem = nz.get(MEMORY, DEFAULT_MEMORY)
        containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
        self.ports = host_ports(containers)
        self.tolerations: list[Mapping[str, Any]] = spec.get("tolerations") or []
        self.node_selector: Mapping[str, str] = spec.get("nodeSelector") or {}
        self.images: list[str] = [c.get("image") or "" for c in containers]
        self.spread_constraints: list[Mapping[str, Any]] = spec.get("topologySpreadConstraints") or []
        self.preemption_policy: str = spec.get("preemptionPolicy") or "PreemptLowerPriority"
        self.nominated_node: str = status.get("nominatedNodeName") or ""
        self.terminating = bool(md.get("deletionTimestamp"))
        # pods of one template share a group: topology spread counts groups, not pods (nodeinfo.py)
        self.label_group: tuple[str, tuple[tuple[str, str], ...]] | None = (
            None if self.terminating else (self.namespace, tuple(sorted(self.labels.items()))))
        ts = md.get("creationTimestamp")
        self.created = parse_rfc3339(ts) if ts else 0.0
        st = status.get("startTime")
        self.start_time = parse_rfc3339(st) if st else self.created
        self._parse_affinity(spec.get("affinity") or {})

    def _parse_affinity(self, aff: Mapping[str, Any]) -> None:
        na = aff.get("nodeAffinity") or {}
        req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.required_node_terms: list[NodeTerm] | None = (
            [parse_node_term(t) for t in req.get("nodeSelectorTerms") or ()] if req is not None else None)
        self.preferred_node_terms: list[tuple[int, NodeTerm]] = [
            (int(p.get("weight") or 0), parse_node_term(p.get("preference") or {}))
            for p in na.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]
        pa = aff.get("podAffinity") or {}
        paa = aff.get("podAntiAffinity") or {}
        ns, lbl = self.namespace, self.labels

        def req_terms(src: Mapping[str, Any]) -> list[AffinityTerm]:
            return [parse_affinity_term(t, ns, lbl)
                    for t in src.get("requiredDuringSchedulingIgnoredDuringExecution") or ()]

        def pref_terms(src: Mapping[str, Any]) -> list[AffinityTerm]:
            return [parse_affinity_term(w.get("podAffinityTerm") or {}, ns, lbl, int(w.get("weight") or 0))
                    for w in src.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]

        self.affinity_terms = req_terms(pa)
        self.anti_affinity_terms = req_terms(paa)
        self.preferred_affinity_terms = pref_terms(pa)
        self.preferred_anti_affinity_terms = pref_terms(paa)
        self.has_affinity = bool(pa or paa)
        self.has_required_anti = bool(self.anti_affinity_terms)

    def __repr__(self) -> str:
        return f"PodInfo({self.key}, prio={self.priority}, node={self.node_name!r})"


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
