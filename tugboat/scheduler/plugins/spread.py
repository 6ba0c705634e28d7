"""PodTopologySpread: keep matching pods evenly spread over topology domains.

Hard constraints (DoNotSchedule) filter: placing the pod must not make its domain exceed the
least-loaded eligible domain by more than maxSkew (minDomains counts missing domains as 0).
Soft constraints (ScheduleAnyway), or the system defaults (hostname maxSkew 3, zone maxSkew 5)
for a pod that belongs to a Service / ReplicaSet / StatefulSet / ReplicationController and
declares none, score: fewer matching pods in the node's domains is better.

Counting walks the pods of the eligible nodes, so it is only done for pods that have
constraints; the hostname domain is counted per scored node from its own pods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tugboat.api.selectors import LabelSelector, Requirement, label_selector_from_dict, selector_from_set
from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin
from tugboat.scheduler.helpers import HOSTNAME, ZONE, first_untolerated
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status, unresolvable, unschedulable

ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"


@dataclass(frozen=True, slots=True)
class Constraint:
    max_skew: int
    key: str
    hard: bool
    selector: LabelSelector
    min_domains: int = 1
    honor_affinity: bool = True
    honor_taints: bool = False


def _selector(c: Mapping[str, Any], labels: Mapping[str, str]) -> LabelSelector:
    sel = label_selector_from_dict(c.get("labelSelector"))
    extra = [Requirement(k, "in", (labels[k],)) for k in c.get("matchLabelKeys") or () if k in labels]
    if extra and not sel.nothing:
        sel = LabelSelector(tuple(sorted(sel.requirements + tuple(extra), key=lambda r: r.key)))
    return sel


def parse_constraints(pi: PodInfo) -> list[Constraint]:
    return [Constraint(int(c.get("maxSkew") or 1), c.get("topologyKey") or "",
                       c.get("whenUnsatisfiable") == "DoNotSchedule", _selector(c, pi.labels),
                       int(c.get("minDomains") or 1), (c.get("nodeAffinityPolicy") or "Honor") == "Honor",
                       (c.get("nodeTaintsPolicy") or "Ignore") == "Honor")
            for c in pi.spread_constraints]


def count_matching(ni: NodeInfo, sel: LabelSelector, ns: str, memo: dict[Any, bool] | None = None) -> int:
    """Non-terminating pods in `ns` on the node that `sel` matches. `memo` (one per selector
    and cycle) remembers the verdict per label group: the pods of one Deployment on a thousand
    nodes are matched once, not once per node."""
    n = 0
    for group, cnt in ni.label_counts.items():
        if group[0] != ns:
            continue
        if memo is None:
            ok = sel.matches(ni.label_sets[group])
        else:
            ok = memo.get(group)  # type: ignore[assignment]
            if ok is None:
                ok = memo[group] = sel.matches(ni.label_sets[group])
        if ok:
            n += cnt
    return n


def _eligible(pi: PodInfo, ni: NodeInfo, c: Constraint) -> bool:
    if c.honor_affinity:
        for k, v in pi.node_selector.items():
            if ni.labels.get(k) != v:
                return False
        if pi.required_node_terms is not None and not any(
                t.matches(ni.labels, ni.name) for t in pi.required_node_terms):
            return False
    return not (c.honor_taints and ni.hard_taints and first_untolerated(ni.hard_taints, pi.tolerations))


class PodTopologySpread(Plugin):
    name = "PodTopologySpread"
    weight = 2
    events = frozenset({ev.POD_ADD, ev.POD_LABEL, ev.POD_DELETE, ev.NODE_ADD, ev.NODE_DELETE, ev.NODE_LABEL,
                        ev.NODE_TAINT})

    # -- filter --------------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        hard = [c for c in parse_constraints(pi) if c.hard]
        if not hard:
            return SKIP
        counts: list[dict[str, int]] = [{} for _ in hard]
        memos: list[dict[Any, bool]] = [{} for _ in hard]
        for ni in self.handle.cache.node_list():
            if any(c.key not in ni.labels for c in hard):
                continue
            for i, c in enumerate(hard):
                if not _eligible(pi, ni, c):
                    continue
                val = ni.labels[c.key]
                counts[i][val] = counts[i].get(val, 0) + count_matching(ni, c.selector, pi.namespace, memos[i])
        mins = [(min(cnt.values()) if cnt and len(cnt) >= c.min_domains else 0) for c, cnt in zip(hard, counts, strict=True)]
        state["spread.hard"] = (hard, counts, mins)
        return None

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        hard, counts, mins = state["spread.hard"]
        for i, c in enumerate(hard):
            val = ni.labels.get(c.key)
            if val is None:
                return unresolvable(ERR_MISSING_LABEL)
            self_match = 1 if c.selector.matches(pi.labels) else 0
            if counts[i].get(val, 0) + self_match - mins[i] > c.max_skew:
                return unschedulable(ERR_CONSTRAINTS)
        return None

    # -- score ---------------------------------------------------------------------------------

    def _soft(self, pi: PodInfo) -> tuple[list[Constraint], bool]:
        if pi.spread_constraints:
            return [c for c in parse_constraints(pi) if not c.hard], True
        sel = self.default_selector(pi)
        if sel is None:
            return [], False
        return [Constraint(3, HOSTNAME, False, sel), Constraint(5, ZONE, False, sel)], False

    def default_selector(self, pi: PodInfo) -> LabelSelector | None:
        """Upstream's DefaultSelector: the pod's Services' selectors plus its controller's."""
        reqs: dict[tuple[str, str, tuple[str, ...]], Requirement] = {}
        svc = self.handle.lister("services")
        if svc is not None:
            for s in svc.list(pi.namespace):
                sel = (s.get("spec") or {}).get("selector")
                if sel and all(pi.labels.get(k) == v for k, v in sel.items()):
                    for r in selector_from_set(sel).requirements:
                        reqs[(r.key, r.operator, r.values)] = r
        owner = next((o for o in (pi.pod.get("metadata") or {}).get("ownerReferences") or () if o.get("controller")), None)
        if owner is not None:
            kind = owner.get("kind")
            lister = self.handle.lister({"ReplicaSet": "replicasets", "StatefulSet": "statefulsets",
                                         "ReplicationController": "replicationcontrollers"}.get(kind or "", ""))
            obj = lister.get(owner.get("name") or "", pi.namespace) if lister is not None else None
            if obj is not None:
                raw = (obj.get("spec") or {}).get("selector")
                ctl = selector_from_set(raw) if kind == "ReplicationController" else label_selector_from_dict(raw)
                for r in ctl.requirements:
                    reqs[(r.key, r.operator, r.values)] = r
        if not reqs:
            return None
        return LabelSelector(tuple(sorted(reqs.values(), key=lambda r: r.key)))

    def pre_score(self, state: CycleState, pi: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        soft, require_all = self._soft(pi)
        if not soft:
            return SKIP
        ignored: set[str] = set()
        domains: list[set[str]] = [set() for _ in soft]
        for ni in nodes:
            if require_all and any(c.key not in ni.labels for c in soft):
                ignored.add(ni.name)
                continue
            for i, c in enumerate(soft):
                v = ni.labels.get(c.key)
                if v is not None:
                    domains[i].add(v)
        counts: list[dict[str, int]] = [{} for _ in soft]
        memos: list[dict[Any, bool]] = [{} for _ in soft]
        zone_like = [i for i, c in enumerate(soft) if c.key != HOSTNAME and domains[i]]
        if zone_like:
            for ni in self.handle.cache.node_list():
                if require_all and any(c.key not in ni.labels for c in soft):
                    continue
                for i in zone_like:
                    c = soft[i]
                    v = ni.labels.get(c.key)
                    if v is None or v not in domains[i] or not _eligible(pi, ni, c):
                        continue
                    counts[i][v] = counts[i].get(v, 0) + count_matching(ni, c.selector, pi.namespace, memos[i])
        weights = []
        for i, c in enumerate(soft):
            size = len(nodes) - len(ignored) if c.key == HOSTNAME else len(domains[i])
            weights.append(math.log(size + 2))
        state["spread.soft"] = (soft, counts, weights, ignored, memos)
        return None

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        soft, counts, weights, ignored, memos = state["spread.soft"]
        if ni.name in ignored:
            return -1
        total = 0.0
        for i, c in enumerate(soft):
            v = ni.labels.get(c.key)
            if v is None:
                continue
            cnt = count_matching(ni, c.selector, pi.namespace, memos[i]) if c.key == HOSTNAME else counts[i].get(v, 0)
            total += cnt * weights[i] + (c.max_skew - 1)
        return round(total)

    def normalize_score(self, state: CycleState, pi: PodInfo, scores: list[int]) -> None:
        ignored = state["spread.soft"][3]
        valid = [s for s in scores if s >= 0] if ignored else scores
        if not valid:
            scores[:] = [0] * len(scores)
            return
        lo, hi = min(valid), max(valid)
        for i, s in enumerate(scores):
            if ignored and s < 0:
                scores[i] = 0
            elif hi == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (hi + lo - s) // hi
