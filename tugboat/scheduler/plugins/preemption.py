"""DefaultPreemption (PostFilter): make room for a pod by evicting lower-priority pods.

For each node that failed only with resolvable reasons, remove every lower-priority pod, check
the pod now fits, then add victims back one by one, most important first (pods whose eviction
would violate a PodDisruptionBudget before the others), keeping those the pod can live with.
The best node has the fewest PDB violations, then the lowest highest-victim priority, the
lowest priority sum, the fewest victims, the latest start among the top victims. Victims get
the DisruptionTarget condition and are deleted in the background; the preemptor is nominated
to the node, and the queue retries it when the victims are gone.

Simplification: the what-if re-runs the node-local filters; InterPodAffinity/PodTopologySpread
counts are not adjusted for the removed victims.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from tugboat.api.scheme import default_scheme
from tugboat.api.selectors import label_selector_from_dict
from tugboat.client.errors import ApiStatusError, is_not_found
from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import CycleState, Diagnosis, Plugin, PostFilterResult
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import Code, Status
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
MIN_CANDIDATES_PERCENT = 10
MIN_CANDIDATES_ABSOLUTE = 100
_POD = default_scheme().by_kind("", "v1", "Pod")


class Candidate:
    __slots__ = ("node", "victims", "violations")

    def __init__(self, node: str, victims: list[PodInfo], violations: int):
        self.node, self.victims, self.violations = node, victims, violations


class DefaultPreemption(Plugin):
    name = "DefaultPreemption"
    events = frozenset({ev.PDB_CHANGE})

    def post_filter(self, state: CycleState, pi: PodInfo, diag: Diagnosis) -> PostFilterResult:
        ok, why = self.eligible(pi)
        if not ok:
            return PostFilterResult(Status(Code.UNSCHEDULABLE, f"preemption: {why}"))
        cache = self.handle.cache
        potential = [cache.nodes[n] for n, st in diag.node_statuses.items()
                     if st.code == Code.UNSCHEDULABLE and n in cache.nodes]
        statuses: dict[str, tuple[str, ...]] = {}
        candidates: list[Candidate] = []
        if potential:
            want = min(len(potential), max(len(potential) * MIN_CANDIDATES_PERCENT // 100, MIN_CANDIDATES_ABSOLUTE))
            off = random.randrange(len(potential))
            pdbs = self._pdbs(pi.namespace)
            for i in range(len(potential)):
                ni = potential[(off + i) % len(potential)]
                cand = self.select_victims(state, pi, ni, pdbs)
                if not isinstance(cand, Candidate):
                    statuses[ni.name] = cand
                    continue
                candidates.append(cand)
                if len(candidates) >= want:
                    break
        if not candidates:
            counts: dict[str, int] = {}
            for reasons in statuses.values():
                for r in reasons:
                    counts[r] = counts.get(r, 0) + 1
            absent = diag.num_all_nodes - len(statuses)
            if absent > 0:
                counts[NOT_HELPFUL] = counts.get(NOT_HELPFUL, 0) + absent
            parts = ", ".join(sorted(f"{v} {k}" for k, v in counts.items()))
            msg = f"preemption: 0/{diag.num_all_nodes} nodes are available: {parts}."
            return PostFilterResult(Status(Code.UNSCHEDULABLE, msg), "")
        best = self.pick(candidates)
        self.prepare(pi, best)
        return PostFilterResult(Status(Code.SUCCESS), best.node)

    def eligible(self, pi: PodInfo) -> tuple[bool, str]:
        if pi.preemption_policy == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        if pi.nominated_node:
            ni = self.handle.cache.nodes.get(pi.nominated_node)
            if ni is not None and any(p.terminating and p.priority < pi.priority for p in ni.pods.values()):
                return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    # -- victims -------------------------------------------------------------------------------

    def _pdbs(self, ns: str) -> list[list[Any]]:
        lister = self.handle.lister("poddisruptionbudgets")
        out = []
        for pdb in lister.list(ns) if lister is not None else ():
            sel = (pdb.get("spec") or {}).get("selector")
            if sel is None:
                continue
            out.append([label_selector_from_dict(sel), int((pdb.get("status") or {}).get("disruptionsAllowed") or 0)])
        return out

    def _check(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> tuple[str, ...]:
        """() if the pod passes the filters on `ni`, else the failing filter's reasons."""
        fw = self.handle.framework
        assert fw is not None
        failed = fw.run_filters(state.get("_filters") or [], state, pi, ni)
        return () if failed is None else (failed[1].reasons or (failed[0],))

    def _fits(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> bool:
        return not self._check(state, pi, ni)

    def select_victims(self, state: CycleState, pi: PodInfo, ni: NodeInfo,
                       pdbs: list[list[Any]]) -> Candidate | tuple[str, ...]:
        lower = [p for p in ni.pods.values() if p.priority < pi.priority]
        if not lower:
            return (NO_VICTIMS,)
        sim = ni.clone()
        for p in lower:
            sim.remove_pod(p)
        still = self._check(state, pi, sim)
        if still:
            return still
        lower.sort(key=lambda p: (-p.priority, p.start_time))
        budgets = [list(b) for b in pdbs]
        violating: list[PodInfo] = []
        ok: list[PodInfo] = []
        for p in lower:
            hit = False
            for b in budgets:
                if b[0].matches(p.labels):
                    b[1] -= 1
                    hit = hit or b[1] < 0
            (violating if hit else ok).append(p)
        victims: list[PodInfo] = []
        violations = 0
        for group, counts in ((violating, True), (ok, False)):
            for p in group:
                sim.add_pod(p)
                if not self._fits(state, pi, sim):
                    sim.remove_pod(p)
                    victims.append(p)
                    violations += counts
        if not victims:
            return (NO_VICTIMS,)
        return Candidate(ni.name, victims, violations)

    @staticmethod
    def pick(cands: list[Candidate]) -> Candidate:
        def key(c: Candidate) -> tuple[int, int, int, int, float]:
            top = max(v.priority for v in c.victims)
            top_start = min(v.start_time for v in c.victims if v.priority == top)
            return (c.violations, top, sum(v.priority + 2**31 for v in c.victims), len(c.victims), -top_start)
        return min(cands, key=key)

    # -- acting --------------------------------------------------------------------------------

    def prepare(self, pi: PodInfo, cand: Candidate) -> None:
        h = self.handle
        for v in cand.victims:
            h.spawn(self._evict(pi, v, cand.node))
        for other in h.nominated_pods(cand.node):
            if other.priority < pi.priority and other.key != pi.key:
                h.clear_nomination(other.key)
                h.spawn(self._clear_nominated(other))

    async def _evict(self, pi: PodInfo, victim: PodInfo, node: str) -> None:
        client = self.handle.client
        if client is None or _POD is None:
            return
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                "message": f"{pi.scheduler_name}: preempting to accommodate a higher priority pod",
                "lastTransitionTime": rfc3339(self.handle.clock.time())}
        try:
            await client.patch(_POD, victim.name, {"status": {"conditions": [cond]}}, victim.namespace,
                               patch_type="strategic", subresource="status")
            await client.delete(_POD, victim.name, victim.namespace, preconditions={"uid": victim.uid})
        except ApiStatusError as e:
            if not is_not_found(e):
                log.warning("preempting %s for %s failed: %s", victim.key, pi.key, e)
            return
        rec = self.handle.recorders.get(pi.scheduler_name)
        if rec is not None:
            rec.emit(victim.pod, "Normal", "Preempted", f"Preempted by pod {pi.uid} on node {node}")

    async def _clear_nominated(self, other: PodInfo) -> None:
        client = self.handle.client
        if client is None or _POD is None:
            return
        try:
            await client.patch(_POD, other.name, {"status": {"nominatedNodeName": None}}, other.namespace,
                               subresource="status")
        except ApiStatusError as e:
            log.info("clearing nominatedNodeName of %s: %s", other.key, e)
