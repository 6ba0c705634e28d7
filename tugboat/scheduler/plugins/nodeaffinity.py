"""NodeAffinity: spec.nodeSelector and required node affinity filter; preferred terms score.

When every required term pins `metadata.name In [...]` (how DaemonSet pods are placed) the
pre-filter narrows the candidate nodes to those names, so a DaemonSet pod does not scan the
whole cluster.
"""

from __future__ import annotations

from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import CycleState, Plugin, default_normalize
from tugboat.scheduler.helpers import term_node_names
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status, unresolvable

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"


def pod_matches_node(pi: PodInfo, ni: NodeInfo) -> bool:
    labels = ni.labels
    for k, v in pi.node_selector.items():
        if labels.get(k) != v:
            return False
    terms = pi.required_node_terms
    if terms is not None:
        return any(t.matches(labels, ni.name) for t in terms)
    return True


class NodeAffinity(Plugin):
    name = "NodeAffinity"
    weight = 2
    events = frozenset({ev.NODE_ADD, ev.NODE_LABEL})

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        terms = pi.required_node_terms
        if not pi.node_selector and terms is None:
            return SKIP
        if terms:
            names: set[str] = set()
            for t in terms:
                tn = term_node_names(t)
                if tn is None:
                    return None
                names |= tn
            state.node_names = names if state.node_names is None else state.node_names & names
        return None

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        return None if pod_matches_node(pi, ni) else unresolvable(ERR_REASON_POD)

    def pre_score(self, state: CycleState, pi: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        return None if pi.preferred_node_terms else SKIP

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        return sum(w for w, t in pi.preferred_node_terms if t.matches(ni.labels, ni.name))

    def normalize_score(self, state: CycleState, pi: PodInfo, scores: list[int]) -> None:
        default_normalize(scores)
