"""NodeResourcesFit (filter + LeastAllocated score) and NodeResourcesBalancedAllocation.

Fit compares the pod's effective requests (cpu, memory, ephemeral-storage, extended resources
such as nvidia.com/gpu, and one pod slot) with allocatable minus what is already requested on
the node, including assumed pods and pods nominated there by preemption with at least this
pod's priority. Both scores work on cpu and memory with weight 1: LeastAllocated uses the
non-zero requests (request-less pods still count 100m/200Mi), BalancedAllocation the real ones.
"""

from __future__ import annotations

from collections.abc import Hashable

from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.resources import CPU, EPHEMERAL, MEMORY, is_scalar
from tugboat.scheduler.status import SKIP, Code, Status

FIT = "NodeResourcesFit"
Extra = tuple[int, int, int, int, dict[str, int]]


def insufficient(pi: PodInfo, ni: NodeInfo, extra: Extra | None = None) -> list[str]:
    """Upstream's fitsRequest reasons, in its order ([] when the pod fits)."""
    r = pi.requests
    x_cpu = x_mem = x_eph = x_pods = 0
    x_scalar: dict[str, int] = {}
    if extra is not None:
        x_cpu, x_mem, x_eph, x_pods, x_scalar = extra
    reasons = []
    if len(ni.pods) + x_pods + 1 > ni.alloc_pods:
        reasons.append("Too many pods")
    if not r:
        return reasons
    cpu = r.get(CPU, 0)
    if cpu and cpu > ni.alloc_cpu - ni.req_cpu - x_cpu:
        reasons.append("Insufficient cpu")
    mem = r.get(MEMORY, 0)
    if mem and mem > ni.alloc_mem - ni.req_mem - x_mem:
        reasons.append("Insufficient memory")
    eph = r.get(EPHEMERAL, 0)
    if eph and eph > ni.alloc_eph - ni.req_eph - x_eph:
        reasons.append("Insufficient ephemeral-storage")
    for k, v in r.items():
        if v and is_scalar(k) and v > ni.alloc_scalar.get(k, 0) - ni.req_scalar.get(k, 0) - x_scalar.get(k, 0):
            reasons.append(f"Insufficient {k}")
    return reasons


class NodeResourcesFit(Plugin):
    name = FIT
    events = frozenset({ev.NODE_ADD, ev.NODE_ALLOCATABLE, ev.NODE_TAINT, ev.NODE_LABEL, ev.POD_DELETE,
                        ev.POD_SCALE_DOWN})

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        extras: dict[str, Extra] = {}
        for node, pods in self.handle.nominated.items():
            cpu = mem = eph = n = 0
            scalar: dict[str, int] = {}
            for other in pods.values():
                if other.key == pi.key or other.priority < pi.priority:
                    continue
                r = other.requests
                cpu += r.get(CPU, 0)
                mem += r.get(MEMORY, 0)
                eph += r.get(EPHEMERAL, 0)
                n += 1
                for k, v in r.items():
                    if is_scalar(k):
                        scalar[k] = scalar.get(k, 0) + v
            if n:
                extras[node] = (cpu, mem, eph, n, scalar)
        state["fit.nominated"] = extras
        return None

    def signature(self, state: CycleState, pi: PodInfo) -> Hashable | None:
        if state.get("fit.nominated"):
            return None
        return (tuple(sorted(pi.requests.items())), pi.nonzero_cpu, pi.nonzero_mem)

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        extras = state["fit.nominated"]
        extra = extras.get(ni.name) if extras else None
        if extra is None and pi.simple_requests:  # fast path: cpu/memory only, nothing nominated here
            r = pi.requests
            if (len(ni.pods) < ni.alloc_pods and r.get(CPU, 0) <= ni.alloc_cpu - ni.req_cpu
                    and r.get(MEMORY, 0) <= ni.alloc_mem - ni.req_mem):
                return None
        reasons = insufficient(pi, ni, extra)
        return Status(Code.UNSCHEDULABLE, *reasons) if reasons else None

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        """LeastAllocated on cpu and memory, each weight 1."""
        total = weights = 0
        alloc = ni.alloc_cpu
        if alloc:
            req = ni.nz_cpu + pi.nonzero_cpu
            total += (alloc - req) * MAX_NODE_SCORE // alloc if req <= alloc else 0
            weights += 1
        alloc = ni.alloc_mem
        if alloc:
            req = ni.nz_mem + pi.nonzero_mem
            total += (alloc - req) * MAX_NODE_SCORE // alloc if req <= alloc else 0
            weights += 1
        return total // weights if weights else 0


class BalancedAllocation(Plugin):
    name = "NodeResourcesBalancedAllocation"
    events = frozenset({ev.NODE_ADD, ev.NODE_ALLOCATABLE})

    def pre_score(self, state: CycleState, pi: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        # best-effort pods are not balanced (upstream #129138): they would all pile on one node
        return None if pi.requests.get(CPU) or pi.requests.get(MEMORY) else SKIP

    def signature(self, state: CycleState, pi: PodInfo) -> Hashable:
        return (pi.requests.get(CPU, 0), pi.requests.get(MEMORY, 0))

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        r = pi.requests
        fractions = []
        if ni.alloc_cpu:
            fractions.append(min(1.0, (ni.req_cpu + r.get(CPU, 0)) / ni.alloc_cpu))
        if ni.alloc_mem:
            fractions.append(min(1.0, (ni.req_mem + r.get(MEMORY, 0)) / ni.alloc_mem))
        std = abs(fractions[0] - fractions[1]) / 2 if len(fractions) == 2 else 0.0
        return int((1 - std) * MAX_NODE_SCORE)
