"""Merging an apply configuration into the live object (structured-merge-diff `merge.go`).

Leaves and atomic values take the configuration's value; granular maps merge key by key;
associative lists merge item by item on their keys, keeping live-only items where they were
and shared items in the configuration's order, exactly as upstream interleaves them (users see
this order in `kubectl get -o yaml`).
"""

from __future__ import annotations

from typing import Any

from .typed import LIST, MAP, SCALAR, TypeNode, category
from .walk import ABSENT, item_pes


def merge(lhs: Any, rhs: Any, t: TypeNode) -> Any:
    """Upstream's Merge: `rhs` (the configuration) wins for leaves; granular maps merge by key,
    associative lists by item key in upstream's order. Keys whose merged value is null are
    dropped (Go would decode them to absent)."""
    if rhs is ABSENT:
        return lhs
    if lhs is ABSENT:
        return _strip_nulls(rhs, t)
    cat = category(t, rhs) if rhs is not None else category(t, lhs)
    if cat == SCALAR:
        return rhs
    if cat == MAP:
        lm = lhs if type(lhs) is dict else {}
        rm = rhs if type(rhs) is dict else {}
        if not lm and not rm:
            return rhs
        res = dict(lm)
        for k, rv in rm.items():
            mv = merge(lm.get(k, ABSENT), rv, t.field(k))
            if mv is None:
                res.pop(k, None)
            else:
                res[k] = mv
        return res
    ll = lhs if type(lhs) is list else []
    rl = rhs if type(rhs) is list else []
    if not ll and not rl:
        return rhs
    return _merge_items(ll, rl, t)


def _strip_nulls(v: Any, t: TypeNode) -> Any:
    cat = category(t, v)
    if cat == MAP:
        return {k: _strip_nulls(x, t.field(k)) for k, x in v.items() if x is not None}
    if cat == LIST:
        elem = t.elem
        return [_strip_nulls(x, elem) for x in v]
    return v


def _merge_items(ll: list[Any], rl: list[Any], t: TypeNode) -> list[Any]:
    rpes = item_pes(t, rl, True, "")
    lpes = item_pes(t, ll, False, "")
    robs = {pe: item for pe, item in zip(rpes, rl, strict=True)}
    lobs: dict[str, Any] = {}
    for pe, item in zip(lpes, ll, strict=True):
        if pe is not None:
            lobs[pe] = ABSENT if pe in lobs else item  # duplicated on the live side
    elem = t.elem
    shared = [pe for pe in rpes if pe in lobs]
    next_shared = shared.pop(0) if shared else None
    merged_r: set[str] = set()
    out: list[Any] = []

    def emit(lchild: Any, rchild: Any) -> None:
        item = merge(lchild, rchild, elem)
        if item is not None and item is not ABSENT:
            out.append(item)

    li = ri = 0
    while li < len(ll) or ri < len(rl):
        if li < len(ll) and ri < len(rl):
            pe = lpes[li]
            if pe is not None and pe == rpes[ri]:
                merged_r.add(pe)
                emit(lobs.get(pe, ABSENT), robs[pe])
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in robs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(ll):
            pe = lpes[li]
            if pe is None or pe not in robs:
                out.append(ll[li])
                li += 1
                continue
            if pe in merged_r:
                li += 1
        if ri < len(rl):
            pe = rpes[ri]
            assert pe is not None
            merged_r.add(pe)
            emit(lobs.get(pe, ABSENT), robs[pe])
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out
