"""Per-signature verdicts for every node, kept current from the cache's change log.

For pods that share a signature (see framework.Framework) the filter verdict and the
un-normalised score of each node are stored in lists aligned with the cache's node order.
Before a cycle only the nodes changed since the memo was last used are recomputed (usually
the one node the previous pod went to), so the feasibility search becomes a C-level scan
(`itertools.compress`) and scoring a list lookup — O(changed nodes) Python work per pod
instead of O(nodes searched).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress, islice
from typing import Any

from tugboat.scheduler.cache import Cache
from tugboat.scheduler.nodeinfo import NodeInfo

_MISSING: Any = object()


class SignatureMemo:
    __slots__ = ("order_version", "log_pos", "fails", "ok", "scores")

    def __init__(self) -> None:
        self.order_version = -1
        self.log_pos = 0
        self.fails: list[Any] = []   # per node: None (fits) or (plugin, Status)
        self.ok: list[bool] = []
        self.scores: list[Any] = []  # per node: weighted score sum, or _MISSING

    def refresh(self, cache: Cache, nodes: list[NodeInfo], check: Callable[[NodeInfo], Any] | None) -> None:
        """Bring the memo up to date with the cache: filter verdicts are recomputed with
        `check` (a filter memo), scores are dropped and recomputed on demand (a score memo)."""
        changed = cache.changes_since(self.log_pos) if self.order_version == cache.order_version else None
        if changed is None:
            if check is not None:
                self.fails = [check(ni) for ni in nodes]
                self.ok = [f is None for f in self.fails]
            self.scores = [_MISSING] * len(nodes)
        elif changed:
            pos = cache.position
            for name in set(changed):
                i = pos.get(name)
                if i is not None:
                    if check is not None:
                        f = check(nodes[i])
                        self.fails[i] = f
                        self.ok[i] = f is None
                    self.scores[i] = _MISSING
        self.order_version = cache.order_version
        self.log_pos = cache.log_pos

    def feasible(self, start: int, want: int) -> tuple[list[int], int]:
        """Up to `want` feasible positions from `start` round-robin, and how many were passed."""
        n = len(self.ok)
        idx = list(islice(compress(range(start, n), self.ok[start:]), want))
        if len(idx) < want and start:
            idx += islice(compress(range(start), self.ok[:start]), want - len(idx))
        if len(idx) < want or not idx:
            return idx, n
        last = idx[-1]
        return idx, (last - start + 1) if last >= start else (n - start + last + 1)

    def totals(self, idx: list[int], nodes: list[NodeInfo], score: Callable[[NodeInfo], int]) -> list[int]:
        scores = self.scores
        out = []
        for i in idx:
            s = scores[i]
            if s is _MISSING:
                s = scores[i] = score(nodes[i])
            out.append(s)
        return out
