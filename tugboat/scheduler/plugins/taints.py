"""TaintToleration: NoSchedule/NoExecute taints filter, PreferNoSchedule taints lower the score.

Untainted nodes (the usual case) cost one attribute read; the score runs only when some node
in the cluster carries a PreferNoSchedule taint.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import orjson

from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import CycleState, Plugin, default_normalize
from tugboat.scheduler.helpers import first_untolerated, tolerated
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status, unresolvable


def untolerated_msg(taint: Any) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


class TaintToleration(Plugin):
    name = "TaintToleration"
    weight = 3
    events = frozenset({ev.NODE_ADD, ev.NODE_TAINT})

    def signature(self, state: CycleState, pi: PodInfo) -> Hashable:
        return orjson.dumps(pi.tolerations) if pi.tolerations else b""

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        if not ni.hard_taints:
            return None
        taint = first_untolerated(ni.hard_taints, pi.tolerations)
        return None if taint is None else unresolvable(untolerated_msg(taint))

    def pre_score(self, state: CycleState, pi: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not self.handle.cache.soft_tainted:
            return SKIP
        state["taint.prefer"] = [t for t in pi.tolerations
                                 if not t.get("effect") or t.get("effect") == "PreferNoSchedule"]
        return None

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        tols = state["taint.prefer"]
        return sum(1 for t in ni.soft_taints if not tolerated(tols, t))

    def normalize_score(self, state: CycleState, pi: PodInfo, scores: list[int]) -> None:
        default_normalize(scores, reverse=True)

