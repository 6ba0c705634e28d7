"""InterPodAffinity: required/preferred pod affinity and anti-affinity by topologyKey.

Counts are kept per topology pair (key, value of the node label), as upstream: the filter then
looks up the node's own label values. The plugin is skipped entirely when neither the pod nor
any placed pod has affinity terms, which is what keeps plain workloads off this O(pods) path.
"""

from __future__ import annotations

from collections.abc import Iterable

from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin
from tugboat.scheduler.helpers import AffinityTerm
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status, unresolvable, unschedulable

ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1
Pairs = dict[tuple[str, str], int]


def _bump(counts: Pairs, key: str, ni: NodeInfo, by: int) -> None:
    val = ni.labels.get(key)
    if val is not None:
        counts[(key, val)] = counts.get((key, val), 0) + by


def _matches(term: AffinityTerm, p: PodInfo, ns_labels: dict) -> bool:  # type: ignore[type-arg]
    return term.matches(p.namespace, p.labels, ns_labels)


def _node_hits(counts: Pairs, ni: NodeInfo) -> bool:
    for (key, val), n in counts.items():
        if n > 0 and ni.labels.get(key) == val:
            return True
    return False


class InterPodAffinity(Plugin):
    name = "InterPodAffinity"
    weight = 2
    events = frozenset({ev.POD_ADD, ev.POD_LABEL, ev.POD_DELETE, ev.NODE_ADD, ev.NODE_LABEL, ev.NAMESPACE_LABEL})

    def _nodes(self) -> Iterable[NodeInfo]:
        return self.handle.cache.node_list()

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        cache = self.handle.cache
        if not pi.affinity_terms and not pi.anti_affinity_terms and cache.affinity_pods == 0:
            return SKIP
        nsl = cache.ns_labels
        existing: Pairs = {}
        affinity: Pairs = {}
        anti: Pairs = {}
        for ni in self._nodes():
            for other in ni.pods_with_required_anti.values():
                for t in other.anti_affinity_terms:
                    if _matches(t, pi, nsl):
                        _bump(existing, t.topology_key, ni, 1)
            if pi.affinity_terms or pi.anti_affinity_terms:
                for other in ni.pods.values():
                    if pi.affinity_terms and all(_matches(t, other, nsl) for t in pi.affinity_terms):
                        for t in pi.affinity_terms:
                            _bump(affinity, t.topology_key, ni, 1)
                    for t in pi.anti_affinity_terms:
                        if _matches(t, other, nsl):
                            _bump(anti, t.topology_key, ni, 1)
        if not existing and not pi.affinity_terms and not pi.anti_affinity_terms:
            return SKIP
        self_match = all(_matches(t, pi, nsl) for t in pi.affinity_terms)
        state["ipa"] = (existing, affinity, anti, self_match)
        return None

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        existing, affinity, anti, self_match = state["ipa"]
        if pi.affinity_terms:
            ok = True
            for t in pi.affinity_terms:
                val = ni.labels.get(t.topology_key)
                if val is None or affinity.get((t.topology_key, val), 0) <= 0:
                    ok = False
                    break
            if not ok and not (not affinity and self_match):
                return unresolvable(ERR_AFFINITY)
        if anti and _node_hits(anti, ni):
            return unschedulable(ERR_ANTI_AFFINITY)
        if existing and _node_hits(existing, ni):
            return unschedulable(ERR_EXISTING_ANTI)
        return None

    # -- score ---------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pi: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        cache = self.handle.cache
        has_pref = bool(pi.preferred_affinity_terms or pi.preferred_anti_affinity_terms)
        if not has_pref and cache.affinity_pods == 0:
            return SKIP
        nsl = cache.ns_labels
        scores: Pairs = {}
        for ni in self._nodes():
            pods = ni.pods if has_pref else ni.pods_with_affinity
            for other in pods.values():
                for t in pi.preferred_affinity_terms:
                    if _matches(t, other, nsl):
                        _bump(scores, t.topology_key, ni, t.weight)
                for t in pi.preferred_anti_affinity_terms:
                    if _matches(t, other, nsl):
                        _bump(scores, t.topology_key, ni, -t.weight)
                if other.has_affinity:
                    for t in other.affinity_terms:
                        if _matches(t, pi, nsl):
                            _bump(scores, t.topology_key, ni, HARD_POD_AFFINITY_WEIGHT)
                    for t in other.preferred_affinity_terms:
                        if _matches(t, pi, nsl):
                            _bump(scores, t.topology_key, ni, t.weight)
                    for t in other.preferred_anti_affinity_terms:
                        if _matches(t, pi, nsl):
                            _bump(scores, t.topology_key, ni, -t.weight)
        if not scores:
            return SKIP
        state["ipa.score"] = scores
        return None

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        total = 0
        for (key, val), s in state["ipa.score"].items():
            if ni.labels.get(key) == val:
                total += s
        return total

    def normalize_score(self, state: CycleState, pi: PodInfo, scores: list[int]) -> None:
        if not scores:
            return
        lo, hi = min(scores), max(scores)
        diff = hi - lo
        for i, s in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * ((s - lo) / diff)) if diff > 0 else 0
