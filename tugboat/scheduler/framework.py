"""The scheduling framework: plugins by name, run at upstream's extension points.

A plugin is a small class with a `name` implementing any of:

    pre_filter(state, pod) -> Status | None      SKIP: its filter is not run for this pod;
                                                 rejected: no node can fit (message counted once)
    filter(state, pod, node) -> Status | None    None means the node passes
    pre_score(state, pod, nodes) -> Status | None  SKIP: its score is not run for this pod
    score(state, pod, node) -> int               0..100
    normalize_score(state, pod, scores) -> None  in place
    post_filter(state, pod, diagnosis) -> PostFilterResult   (preemption)
    reserve / unreserve / permit (state, pod, node)
    async bind(state, pod, node) -> Status | None

and `events`: the cluster events after which a pod it rejected may fit (queueing hints).
Only the plugins that apply to a pod run for it (pre_filter/pre_score SKIP), so a plain pod
costs the resource check and two resource scores per node; feasibility search stops after
upstream's adaptive number of nodes, resuming round-robin where the previous pod stopped.

Memoisation: a plugin whose verdict on a node depends only on the node and on a summary of
the pod can say so with `signature(state, pod) -> Hashable | None`. When every active filter
(or every active un-normalised scorer) has one, results are remembered per node and reused
while the node's generation is unchanged. Pods of one workload share a signature and between
two of them only the chosen node changes, so most nodes cost one dict lookup instead of the
plugin calls — this is what makes 5 000-node clusters affordable in Python.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from tugboat.scheduler.cache import Cache
from tugboat.scheduler.memo import SignatureMemo
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import Code, Status

if TYPE_CHECKING:
    from tugboat.scheduler.handle import Handle

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENT = 5
BASE_PERCENT = 50


class CycleState(dict[str, Any]):
    """Per-pod scratch space shared by the plugins of one scheduling cycle."""

    node_names: set[str] | None = None  # pre_filter may limit the candidate nodes


class Plugin:
    name: ClassVar[str] = ""
    weight: ClassVar[int] = 1
    events: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, handle: Handle):
        self.handle = handle


@dataclass
class Diagnosis:
    node_statuses: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""
    num_all_nodes: int = 0

    def message(self) -> str:
        msg = f"0/{self.num_all_nodes} nodes are available:"
        if self.pre_filter_msg:
            msg += f" {self.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            for st in self.node_statuses.values():
                for r in st.reasons:
                    counts[r] = counts.get(r, 0) + 1
            parts = sorted(f"{v} {k}" for k, v in counts.items())
            if parts:
                msg += " " + ", ".join(parts) + "."
        if self.post_filter_msg:
            msg += f" {self.post_filter_msg}"
            if not self.post_filter_msg.endswith("."):
                msg += "."
        return msg


class FitError(Exception):
    def __init__(self, pod: PodInfo, diagnosis: Diagnosis):
        super().__init__()
        self.pod = pod
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        return self.diagnosis.message()


@dataclass
class PostFilterResult:
    status: Status
    nominated_node: str | None = None  # "" clears a previous nomination


def num_feasible_nodes_to_find(num_all: int, percentage: int | None) -> int:
    if num_all < MIN_FEASIBLE_NODES:
        return num_all
    pct = percentage or 0
    if pct <= 0:
        pct = max(MIN_FEASIBLE_PERCENT, BASE_PERCENT - num_all // 125)
    return max(MIN_FEASIBLE_NODES, num_all * pct // 100)


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """Upstream's helper.DefaultNormalizeScore: scale to 0..100 by the maximum (optionally reversed)."""
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        s = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - s if reverse else s


def _has(p: Plugin, method: str) -> bool:
    return getattr(type(p), method, None) is not None


MEMO_SIGNATURES = 64
FilterFn = Callable[[CycleState, PodInfo, NodeInfo], "Status | None"]


class Framework:
    def __init__(self, handle: Handle, plugins: Sequence[Plugin], *, percentage_of_nodes_to_score: int | None = None):
        self.handle = handle
        self.plugins = list(plugins)
        self.by_name = {p.name: p for p in self.plugins}
        self.percentage = percentage_of_nodes_to_score
        self.pre_filter = [p for p in self.plugins if _has(p, "pre_filter") or _has(p, "filter")]
        self.scorers = [p for p in self.plugins if _has(p, "score")]
        self.post_filters = [p for p in self.plugins if _has(p, "post_filter")]
        self.reservers = [p for p in self.plugins if _has(p, "reserve")]
        self.permitters = [p for p in self.plugins if _has(p, "permit")]
        self.binders = [p for p in self.plugins if _has(p, "bind")]
        self.next_start = 0
        self._memo: OrderedDict[Hashable, SignatureMemo] = OrderedDict()

    def _signature(self, plugins: Sequence[Plugin], state: CycleState, pi: PodInfo) -> tuple[Any, ...] | None:
        sig: list[Any] = []
        for p in plugins:
            f = getattr(p, "signature", None)
            s = f(state, pi) if f is not None else None
            if s is None:
                return None
            sig.append((p.name, s))
        return tuple(sig)

    def _memo_for(self, key: Hashable) -> SignatureMemo:
        m = self._memo.get(key)
        if m is None:
            m = self._memo[key] = SignatureMemo()
            while len(self._memo) > MEMO_SIGNATURES:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(key)
        return m

    @property
    def cache(self) -> Cache:
        return self.handle.cache

    # -- filter --------------------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pi: PodInfo, diag: Diagnosis) -> list[tuple[str, FilterFn]] | None:
        filters: list[tuple[str, FilterFn]] = []
        active: list[Plugin] = []
        for p in self.pre_filter:
            st = p.pre_filter(state, pi) if _has(p, "pre_filter") else None  # type: ignore[attr-defined]
            if st is None or st.code == Code.SUCCESS:
                if _has(p, "filter"):
                    filters.append((p.name, p.filter))  # type: ignore[attr-defined]
                    active.append(p)
            elif st.code == Code.SKIP:
                continue
            else:
                diag.pre_filter_msg = st.message
                diag.unschedulable_plugins.add(p.name)
                return None
        state["_filters"] = filters
        state["_filter_plugins"] = active
        return filters

    def run_filters(self, filters: list[tuple[str, FilterFn]], state: CycleState, pi: PodInfo,
                    ni: NodeInfo) -> tuple[str, Status] | None:
        for name, f in filters:
            st = f(state, pi, ni)
            if st is not None:
                return name, st
        return None

    def find_feasible(self, state: CycleState, pi: PodInfo, diag: Diagnosis) -> list[NodeInfo]:
        nodes = self.cache.node_list()
        diag.num_all_nodes = len(nodes)
        filters = self.run_pre_filter(state, pi, diag)
        if filters is None:
            for ni in nodes:
                diag.node_statuses[ni.name] = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, diag.pre_filter_msg)
            return []
        narrowed = state.node_names is not None
        if narrowed:
            nodes = [n for n in nodes if n.name in state.node_names]  # type: ignore[operator]
        n = len(nodes)
        if n == 0:
            return []
        want = num_feasible_nodes_to_find(n, self.percentage)
        start = self.next_start % n
        sig = None if narrowed else self._signature(state["_filter_plugins"], state, pi)
        if sig is not None:
            memo = self._memo_for(("filter", sig))
            memo.refresh(self.cache, nodes, lambda ni: self.run_filters(filters, state, pi, ni))
            state["_memo"] = (sig, memo)
            idx, processed = memo.feasible(start, want)
            if not idx:
                for ni, f in zip(nodes, memo.fails, strict=True):
                    if f is not None:
                        diag.node_statuses[ni.name] = f[1]
                        diag.unschedulable_plugins.add(f[0])
            self.next_start = (start + processed) % n
            state["_idx"] = idx
            return [nodes[i] for i in idx]
        feasible: list[NodeInfo] = []
        processed = 0
        ordered = nodes[start:] + nodes[:start] if start else nodes
        for ni in ordered:
            processed += 1
            failed = self.run_filters(filters, state, pi, ni)
            if failed is None:
                feasible.append(ni)
                if len(feasible) >= want:
                    break
            else:
                diag.node_statuses[ni.name] = failed[1]
                diag.unschedulable_plugins.add(failed[0])
        self.next_start = (start + processed) % n
        return feasible

    # -- score ---------------------------------------------------------------------------------

    def prioritize(self, state: CycleState, pi: PodInfo, feasible: list[NodeInfo]) -> list[int]:
        totals = [0] * len(feasible)
        active: list[Plugin] = []
        for p in self.scorers:
            if _has(p, "pre_score"):
                st = p.pre_score(state, pi, feasible)  # type: ignore[attr-defined]
                if st is not None and st.code == Code.SKIP:
                    continue
            active.append(p)
        plain = [p for p in active if not _has(p, "normalize_score")]
        sig = self._signature(plain, state, pi) if plain else None
        fmemo = state.get("_memo")
        if sig is not None and fmemo is not None:
            memo = self._memo_for(("score", fmemo[0], sig))
            nodes = self.cache.node_list()
            memo.refresh(self.cache, nodes, None)
            fns = [(p.score, p.weight) for p in plain]  # type: ignore[attr-defined]

            def total(ni: NodeInfo) -> int:
                t = 0
                for f, w in fns:
                    t += f(state, pi, ni) * w
                return t

            totals = memo.totals(state["_idx"], nodes, total)
            active = [p for p in active if p not in plain]
        for p in active:
            score = p.score  # type: ignore[attr-defined]
            scores = [score(state, pi, ni) for ni in feasible]
            if _has(p, "normalize_score"):
                p.normalize_score(state, pi, scores)  # type: ignore[attr-defined]
            w = p.weight
            for i, s in enumerate(scores):
                totals[i] += s * w
        return totals

    @staticmethod
    def select_host(feasible: list[NodeInfo], totals: list[int]) -> NodeInfo:
        """Highest total score; ties broken uniformly at random (upstream's reservoir sampling)."""
        best = max(totals)
        ties = [i for i, t in enumerate(totals) if t == best]
        return feasible[ties[0] if len(ties) == 1 else random.choice(ties)]

    def schedule(self, pi: PodInfo, state: CycleState | None = None) -> tuple[NodeInfo, CycleState]:
        """One scheduling algorithm run; raises FitError when no node fits."""
        state = state if state is not None else CycleState()
        diag = Diagnosis()
        feasible = self.find_feasible(state, pi, diag)
        if not feasible:
            raise FitError(pi, diag)
        if len(feasible) == 1:
            return feasible[0], state
        totals = self.prioritize(state, pi, feasible)
        return self.select_host(feasible, totals), state

    # -- after the decision --------------------------------------------------------------------

    def run_reserve(self, state: CycleState, pi: PodInfo, node: str) -> Status | None:
        for p in self.reservers:
            st = p.reserve(state, pi, node)  # type: ignore[attr-defined]
            if st is not None and not st.is_success():
                self.run_unreserve(state, pi, node)
                return st
        return None

    def run_unreserve(self, state: CycleState, pi: PodInfo, node: str) -> None:
        for p in reversed(self.reservers):
            if _has(p, "unreserve"):
                p.unreserve(state, pi, node)  # type: ignore[attr-defined]

    def run_permit(self, state: CycleState, pi: PodInfo, node: str) -> Status | None:
        for p in self.permitters:
            st = p.permit(state, pi, node)  # type: ignore[attr-defined]
            if st is not None and not st.is_success():
                return st
        return None

    async def run_bind(self, state: CycleState, pi: PodInfo, node: str) -> Status | None:
        for p in self.binders:
            st = await p.bind(state, pi, node)  # type: ignore[attr-defined]
            if st is not None and st.code == Code.SKIP:
                continue
            return st
        return Status(Code.ERROR, "no bind plugin bound the pod")

    def run_post_filter(self, state: CycleState, pi: PodInfo, diag: Diagnosis) -> PostFilterResult | None:
        for p in self.post_filters:
            res: PostFilterResult = p.post_filter(state, pi, diag)  # type: ignore[attr-defined]
            if res.status.is_success() or res.status.message:
                return res
        return None

    def plugins_for_event(self, event: str) -> set[str]:
        return {p.name for p in self.plugins if event in p.events}
