"""List ordering for strategic merge patch: how upstream orders a merged list.

Upstream's rule (design proposal "preserve order in strategic merge patch"): items named by
the patch (or by its `$setElementOrder/<list>` directive) come in the patch's order; items only
the server has keep their order from the live list; the two runs are interleaved by their
positions in the live list. The interleaving is a merge that takes a server-only item only when
both it and the next patch item are found in the live list and it comes first there, so an
item the live list lacks wins ties: that is why a new container added without
`$setElementOrder` lands at the front. We reproduce the algorithm step by step so results are
the same element for element.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.patch._util import go_fmt, go_type, internal, key


def no_merge_key(item: Any, merge_key: str) -> Exception:
    return internal(f"map: {go_fmt(item)} does not contain declared merge key: {merge_key}")


def bad_arg_type(expected: str, actual: Any) -> Exception:
    return internal(f"expected a {expected}, but received a {go_type(actual)}")


def _val(item: Any, merge_key: str, is_map: bool) -> Any:
    if is_map:
        return key(item.get(merge_key)) if isinstance(item, dict) else key(None)
    return key(item)


def _positions(order: list[Any], merge_key: str, is_map: bool) -> dict[Any, int]:
    pos: dict[Any, int] = {}
    for i, item in enumerate(order):
        pos.setdefault(_val(item, merge_key, is_map), i)
    return pos


def check_merge_keys(merge_key: str, *lists: list[Any]) -> None:
    for lst in lists:
        for item in lst:
            if not isinstance(item, dict):
                raise bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise no_merge_key(item, merge_key)


def sort_by(items: list[Any], order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    """Stable sort of `items` by position in `order` (`$patch: delete` items go last)."""
    deleted: list[Any] = []
    if is_map:
        check_merge_keys(merge_key, items, order)
        deleted = [i for i in items if i.get("$patch") == "delete"]
        items = [i for i in items if i.get("$patch") != "delete"]
    pos = _positions(order, merge_key, is_map)
    # Upstream's comparator puts items missing from `order` first; none occur in practice.
    return sorted(items, key=lambda i: pos.get(_val(i, merge_key, is_map), -1)) + deleted


def merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str,
                 is_map: bool) -> list[Any]:
    """Interleave server-only items (`left`) into patch items (`right`), upstream's way."""
    pos = _positions(server_order, merge_key, is_map)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = pos.get(_val(left[i], merge_key, is_map), -1)
            ri = pos.get(_val(right[j], merge_key, is_map), -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def normalize(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
              server_order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    patch_items = sort_by(patch_items, patch_order, merge_key, is_map)
    server_only = sort_by(server_only, server_order, merge_key, is_map)
    return merge_sorted(server_only, patch_items, server_order, merge_key, is_map)


def partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """(items of `merged` named in `by`, the others), keeping `merged`'s order."""
    if not merge_key:
        named = {key(v) for v in by}
        return ([v for v in merged if key(v) in named], [v for v in merged if key(v) not in named])
    names = set()
    for k, v in enumerate(by):
        if not isinstance(v, dict):
            raise internal(f"value for key {k} is not a map")
        if merge_key in v:
            names.add(key(v[merge_key]))
    inside: list[Any] = []
    outside: list[Any] = []
    for v in merged:
        if not isinstance(v, dict):
            raise bad_arg_type("map[string]interface {}", v)
        if merge_key not in v:
            raise no_merge_key(v, merge_key)
        (inside if key(v[merge_key]) in names else outside).append(v)
    return inside, outside


def validate_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch's items must appear in `$setElementOrder` and in the same relative order."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for v in patch_list:
            if not isinstance(v, dict):
                raise bad_arg_type("map[string]interface {}", v)
        items = [v for v in patch_list if v.get("$patch") != "delete"]
    p = o = 0
    while p < len(items) and o < len(order):
        if isinstance(items[p], dict) and "$patch" in items[p]:
            p += 1
            continue
        if _same_key(items[p], order[o], merge_key):
            p += 1
        o += 1
    if p < len(items) and o >= len(order):
        raise internal(f"The order in patch list:\n{go_fmt(patch_list)}\n doesn't match $setElementOrder list:\n"
                       f"{go_fmt(order)}\n")


def _same_key(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return bool(key(left) == key(right))
    for side in (left, right):
        if not isinstance(side, dict):
            raise bad_arg_type("map[string]interface {}", side)
        if merge_key not in side:
            raise no_merge_key(side, merge_key)
    return bool(key(left[merge_key]) == key(right[merge_key]))
