"""The typed walks server-side apply is built from: field set of a value, comparison of two
values, and removal of a set of fields (merging lives in merge.py).

Each mirrors one walker of structured-merge-diff (`typed/tofieldset.go`, `compare.go`,
`remove.go`) closely enough that ownership and the
presence of `"."` markers come out as upstream's. Values are plain JSON dicts/lists; the walks
never mutate their inputs (outputs share untouched subtrees with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fieldset import _MARK, MEMBER, FieldSet, Node, field_pe, pe_string
from .typed import DEDUCED_TYPE, LIST, MAP, SCALAR, SchemaError, TypeNode, category, item_pe

ABSENT: Any = object()


def item_pes(t: TypeNode, items: list[Any], strict: bool, where: str) -> list[str | None]:
    out: list[str | None] = []
    for i, item in enumerate(items):
        try:
            out.append(item_pe(t, item))
        except SchemaError as e:
            if strict:
                raise SchemaError(f"{where}: element {i}: {e}") from None
            out.append(None)
    return out


# ---------------------------------------------------------------- field set of a value

def to_set(value: Any, t: TypeNode, *, strict: bool = False) -> FieldSet:
    """Upstream's ToFieldSet. `strict` rejects duplicate or key-less list items (applied
    configurations must be valid; stored objects are walked leniently)."""
    node = _to_set(value, t, strict, "")
    node.pop(MEMBER, None)
    return FieldSet(node)


def _to_set(v: Any, t: TypeNode, strict: bool, where: str) -> Node:
    cat = category(t, v)
    if cat == SCALAR:
        return {MEMBER: _MARK}
    out: Node = {}
    if cat == MAP:
        for k, cv in v.items():
            ct = t.field(k)
            child = _to_set(cv, ct, strict, f"{where}.{k}")
            if cv is None or (type(cv) is dict and not cv) or not t.has_field(k):
                child[MEMBER] = _MARK
            if child:
                out[field_pe(k)] = child
        return out
    pes = item_pes(t, v, strict, where)
    seen: set[str] = set()
    dupes: set[str] = set()
    for pe in pes:
        if pe is not None:
            (dupes if pe in seen else seen).add(pe)
    if dupes and strict:
        first = next(pe for pe in pes if pe in dupes)
        raise SchemaError(f"{where}: duplicate entries for key {pe_string(first)}")
    elem = t.elem
    for pe, item in zip(pes, v, strict=True):
        if pe is None:
            continue
        if pe in dupes:
            out[pe] = {MEMBER: _MARK}
            continue
        child = _to_set(item, elem, strict, where)
        child[MEMBER] = _MARK
        out[pe] = child
    return out


def ensure_named_fields_are_members(s: FieldSet, t: TypeNode) -> FieldSet:
    """Upstream's EnsureNamedFieldsAreMembers: struct fields leading to members become members."""
    return FieldSet(_ensure_named(s.root, t))


def _ensure_named(node: Node, t: TypeNode) -> Node:
    out: Node = {}
    for k, child in node.items():
        if k == MEMBER:
            out[k] = child
            continue
        if k[0] == "f":
            name = k[2:]
            new = _ensure_named(child, t.field(name))
            if t.kind == MAP and t.has_field(name):
                new[MEMBER] = _MARK
        else:
            new = _ensure_named(child, t.elem if t.kind == LIST else DEDUCED_TYPE)
        out[k] = new
    return out


# ---------------------------------------------------------------- comparison

@dataclass
class Comparison:
    added: list[tuple[str, ...]] = field(default_factory=list)
    modified: list[tuple[str, ...]] = field(default_factory=list)
    removed: list[tuple[str, ...]] = field(default_factory=list)

    def sets(self) -> tuple[FieldSet, FieldSet, FieldSet]:
        return FieldSet.from_paths(self.added), FieldSet.from_paths(self.modified), FieldSet.from_paths(self.removed)


def compare(lhs: Any, rhs: Any, t: TypeNode, *, zero_fill: bool = True) -> Comparison:
    """Upstream's Compare (lhs → rhs). With `zero_fill`, a struct field missing from one side
    is read as Go's zero value where upstream's typed objects would carry one."""
    out = Comparison()
    _compare(lhs, rhs, t, (), out, zero_fill)
    return out


def _leaf(lhs: Any, rhs: Any, path: tuple[str, ...], out: Comparison) -> None:
    if lhs is ABSENT:
        out.added.append(path)
    elif rhs is ABSENT:
        out.removed.append(path)
    elif lhs != rhs or (type(lhs) is bool) != (type(rhs) is bool):
        out.modified.append(path)


def _compare(lhs: Any, rhs: Any, t: TypeNode, path: tuple[str, ...], out: Comparison, zf: bool) -> None:
    lcat = SCALAR if lhs is ABSENT else category(t, lhs)
    rcat = SCALAR if rhs is ABSENT else category(t, rhs)
    cat = rcat if lhs is ABSENT else lcat if rhs is ABSENT else (lcat if lcat == rcat else SCALAR)
    if lhs is not ABSENT and rhs is not ABSENT and lcat != rcat and None in (lhs, rhs):
        cat = lcat if rhs is None else rcat  # null on one side reads as an empty container
    if cat == SCALAR:
        _leaf(lhs, rhs, path, out)
        return
    if cat == MAP:
        lm = lhs if type(lhs) is dict else {}
        rm = rhs if type(rhs) is dict else {}
        if not lm and not rm:
            _leaf(lhs, rhs, path, out)
            return
        for k in (*lm, *(k for k in rm if k not in lm)):
            lv = lm.get(k, ABSENT)
            rv = rm.get(k, ABSENT)
            if zf and (lv is ABSENT or rv is ABSENT):
                present, zero = t.zero_value(k)
                if present:
                    if lv is ABSENT and type(lhs) is dict:
                        lv = zero
                    if rv is ABSENT and type(rhs) is dict:
                        rv = zero
            _compare(lv, rv, t.field(k), path + (field_pe(k),), out, zf)
    else:
        ll = lhs if type(lhs) is list else []
        rl = rhs if type(rhs) is list else []
        if not ll and not rl:
            _leaf(lhs, rhs, path, out)
            return
        _compare_items(ll, rl, t, path, out, zf)
    if lhs is ABSENT:
        out.added.append(path)
    elif rhs is ABSENT:
        out.removed.append(path)


def _group(t: TypeNode, items: list[Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for pe, item in zip(item_pes(t, items, False, ""), items, strict=True):
        if pe is not None:
            groups.setdefault(pe, []).append(item)
    return groups


def _compare_items(ll: list[Any], rl: list[Any], t: TypeNode, path: tuple[str, ...], out: Comparison,
                   zf: bool) -> None:
    lg, rg = _group(t, ll), _group(t, rl)
    elem = t.elem
    for pe in (*lg, *(pe for pe in rg if pe not in lg)):
        li, ri = lg.get(pe, []), rg.get(pe, [])
        p = path + (pe,)
        if len(li) == 1 and len(ri) == 1:
            _compare(li[0], ri[0], elem, p, out, zf)
        elif len(li) == 1 and not ri:
            _compare(li[0], ABSENT, elem, p, out, zf)
        elif len(ri) == 1 and not li:
            _compare(ABSENT, ri[0], elem, p, out, zf)
        elif not li:
            out.added.append(p)
        elif not ri:
            out.removed.append(p)
        elif li != ri:
            out.modified.append(p)


# ---------------------------------------------------------------- removal

def remove_items(value: Any, s: FieldSet, t: TypeNode) -> Any:
    """Upstream's RemoveItems: drop every member of `s` (with its subtree). Containers emptied
    by the removal disappear, as Go's omitempty would make them."""
    if not s.root:
        return value
    res = _remove(value, s.root, t)
    return {} if res is None else res


def _remove(v: Any, node: Node, t: TypeNode) -> Any:
    cat = category(t, v)
    if cat == SCALAR:
        return v
    if cat == MAP:
        if not v:
            return v
        res: dict[str, Any] = {}
        for k, cv in v.items():
            child = node.get(field_pe(k))
            if child is None:
                res[k] = cv
            elif MEMBER in child:
                continue
            else:
                nv = _remove(cv, child, t.field(k))
                if nv is not None:
                    res[k] = nv
        return res or None
    if not v:
        return v
    items: list[Any] = []
    elem = t.elem
    for pe, item in zip(item_pes(t, v, False, ""), v, strict=True):
        child = node.get(pe) if pe is not None else None
        if child is None:
            items.append(item)
        elif MEMBER in child:
            continue
        else:
            nv = _remove(item, child, elem)
            if nv is not None:
                items.append(nv)
    return items or None
