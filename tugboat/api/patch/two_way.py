"""Computing a strategic merge patch from two versions of an object (client side).

kubectl computes strategic merge patches itself (`CreateTwoWayMergePatch`); the server only
applies them. We provide the same computation for our own clients and tests: the output has
the shape kubectl sends (keyed items carrying only changes plus their merge key, deleted items
as `{<key>: v, "$patch": "delete"}`, `$setElementOrder/<list>` whenever a merged list changed,
`$deleteFromPrimitiveList/<list>`, `$retainKeys` for retainKeys fields, null for removals),
and applying it to `original` with `strategic_merge_patch` yields `modified`.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import schema as sch
from tugboat.api.patch._clean import DELETE_PRIMITIVES, DIRECTIVE, RETAIN_KEYS, SET_ORDER
from tugboat.api.patch._order import check_merge_keys, sort_by
from tugboat.api.patch._util import deep_copy, go_fmt, guard_depth, key, same
from tugboat.api.patch.strategic import Schema, _elements_kind, _items, _kind

_JsonMap = dict[str, Any]


@guard_depth
def create_two_way_merge_patch(original: _JsonMap, modified: _JsonMap, schema: Schema) -> _JsonMap:
    """The strategic merge patch that turns `original` into `modified` (inputs untouched)."""
    patch = _diff_maps(original or {}, modified or {}, schema, retain_keys=False)
    result: _JsonMap = deep_copy(patch)
    return result


def _strategy(schema: Schema, name: str) -> tuple[Schema, str, str, bool]:
    sub = sch.field(schema, name)
    raw, merge_key = sch.patch_strategy(sub)
    parts = [p for p in raw.split(",") if p]
    others = [p for p in parts if p != "retainKeys"]
    return sub, (others[0] if others else ""), merge_key or "", "retainKeys" in parts


def _diff_maps(original: _JsonMap, modified: _JsonMap, schema: Schema, retain_keys: bool) -> _JsonMap:
    patch: _JsonMap = {}
    retained: list[Any] = []
    for k, new in modified.items():
        if retain_keys and new is not None:
            retained.append(k)
        if k not in original:
            patch[k] = new
            continue
        old = original[k]
        if k == DIRECTIVE:
            if old != new:
                patch[k] = new
            continue
        if _kind(old) != _kind(new):
            patch[k] = new
        elif isinstance(old, dict):
            sub, strategy, _, retain = _strategy(schema, k)
            if strategy == "replace":
                patch[k] = new
            elif diff := _diff_maps(old, new, sub, retain):
                patch[k] = diff
        elif isinstance(old, list):
            sub, strategy, merge_key, retain = _strategy(schema, k)
            if strategy != "merge":
                if not _equal(old, new):
                    patch[k] = new
                continue
            added, deleted, order = _diff_lists(old, new, _items(sub), merge_key, retain)
            if added:
                patch[k] = added
            if deleted:
                patch[f"{DELETE_PRIMITIVES}/{k}"] = deleted
            if order:
                patch[f"{SET_ORDER}/{k}"] = order
        elif not _equal(old, new):
            patch[k] = new
    for k in original:
        if k not in modified:
            patch[k] = None
    extra = any(v is not None and k not in modified for k, v in original.items())
    if retained and (patch or extra):
        patch[RETAIN_KEYS] = sorted(retained, key=go_fmt)
    return patch


def _diff_lists(original: list[Any], modified: list[Any], item_schema: Schema, merge_key: str,
                retain: bool) -> tuple[list[Any], list[Any], list[Any]]:
    """(added or changed items, deleted primitives, $setElementOrder list)."""
    if not original:
        return (modified, [], []) if modified else ([], [], [])
    if _elements_kind(original, modified) == "map":
        check_merge_keys(merge_key, original, modified)
        changes, deletions = _diff_keyed(original, modified, item_schema, merge_key, retain)
        changes = sort_by(changes, modified, merge_key, True) + deletions
        same_order = len(original) == len(modified) and all(
            key(a[merge_key]) == key(b[merge_key]) for a, b in zip(original, modified, strict=True))
        if changes or not same_order:
            return changes, [], [{merge_key: m[merge_key]} for m in modified]
        return changes, [], []
    old_keys, new_keys = {key(v) for v in original}, {key(v) for v in modified}
    added = [v for v in _dedupe(modified) if key(v) not in old_keys]
    deleted = sorted((v for v in _dedupe(original) if key(v) not in new_keys), key=go_fmt)
    order = modified if deleted or not _equal(original, modified) else []
    return sort_by(added, modified, "", False), deleted, list(order)


def _diff_keyed(original: list[Any], modified: list[Any], item_schema: Schema, merge_key: str,
                retain: bool) -> tuple[list[Any], list[Any]]:
    old = {key(v[merge_key]): v for v in reversed(original)}
    new_keys = {key(v[merge_key]) for v in modified}
    changes: list[Any] = []
    for item in modified:
        before = old.get(key(item[merge_key]))
        if before is None:
            changes.append(item)
        elif diff := _diff_maps(before, item, item_schema, retain):
            diff[merge_key] = item[merge_key]
            changes.append(diff)
    deletions = [{DIRECTIVE: "delete", merge_key: v[merge_key]} for v in original
                 if key(v[merge_key]) not in new_keys]
    return changes, _dedupe(deletions)


def _dedupe(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        if key(v) not in seen:
            seen.add(key(v))
            out.append(v)
    return out


def _equal(a: Any, b: Any) -> bool:
    return same(a, b)
