"""Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), server side.

A JSON merge patch that knows, from the kind's OpenAPI schema, which lists are keyed
(`x-kubernetes-patch-strategy: merge` + `x-kubernetes-patch-merge-key`), which lists of
primitives are sets, and which fields are replaced whole; plus the directives kubectl sends:
`$patch: replace|delete` on maps, `{"$patch": "replace"}` / `{name: x, "$patch": "delete"}`
items in keyed lists, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>` and
`$retainKeys`. We follow apimachinery's `strategicpatch.mergeMap` decision for decision,
including its list-ordering algorithm (see `_order`) and its error codes: malformed directive
formats are 400, lists of lists 422, and the rest reach the client as plain 500 errors with
upstream's message, exactly as a real apiserver answers.

Unlike upstream, whose result goes through a typed Go struct that silently drops leftovers, our
result is stored as-is: so directive keys and nulls are stripped from every value the patch
introduces, and `$patch: replace` on a map the live object lacks keeps its content.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import schema as sch
from tugboat.api.errors import bad_request
from tugboat.api.patch import _order
from tugboat.api.patch._clean import (
    DELETE_PRIMITIVES,
    DIRECTIVE,
    RETAIN_KEYS,
    SET_ORDER,
    clean_list,
    clean_map,
    put,
)
from tugboat.api.patch._util import deep_copy, go_fmt, go_type, guard_depth, internal, invalid, json_kind, key
from tugboat.api.patch.merge_patch import merge_patch

Schema = dict[str, Any] | None


@guard_depth
def strategic_merge_patch(doc: dict[str, Any], patch: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Apply `patch` to a copy of `doc`, guided by `schema` (`schema.for_kind(...)`).

    With `schema` None (a kind without a schema) this is a JSON merge patch; upstream refuses
    strategic merge patches for custom resources with 415, which is the caller's business.
    """
    if schema is None:
        result = merge_patch(doc, patch)
        if not isinstance(result, dict):
            raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
        return result
    if patch is None:
        return dict(deep_copy(doc or {}))
    if not isinstance(patch, dict):
        raise bad_request(f"json: cannot unmarshal {json_kind(patch)} into Go value of type map[string]interface {{}}")
    original = deep_copy(doc) if isinstance(doc, dict) else {}
    return _merge_map(original, deep_copy(patch), schema)


def _meta(schema: Schema, name: str) -> tuple[Schema, str, str]:
    """(field schema, patch strategy without retainKeys, merge key) of field `name`."""
    sub = sch.field(schema, name)
    raw, merge_key = sch.patch_strategy(sub)
    parts = [p for p in raw.split(",") if p]
    others = [p for p in parts if p != "retainKeys"]
    if len(parts) > 2 or (len(parts) == 2 and len(others) != 1):
        raise internal(f"unexpected patch strategy: {go_fmt(parts)}")
    return sub, (others[0] if others else ""), merge_key or ""


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Merge `patch` into `original` (both private copies, mutated) and return the result."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return clean_map(patch)
        if directive == "delete":
            return {}
        patch[DIRECTIVE] = directive
        raise internal(f"unknown patch type: {go_fmt(directive)} in map: {go_fmt(patch)}")
    _retain_keys(original, patch)
    _set_element_orders(original, patch, schema)
    for k in list(patch):
        value, name, deleting = patch[k], k, False
        if k.startswith(DELETE_PRIMITIVES):
            name, deleting = _strip_prefix(k, DELETE_PRIMITIVES), True
        if value is None:
            original.pop(name, None)
            continue
        if name not in original or _kind(original[name]) != _kind(value):
            if not deleting:
                put(original, name, value)
            continue
        current = original[name]
        if isinstance(current, dict):
            sub, strategy, _ = _meta(schema, name)
            if strategy == "replace":
                put(original, name, value)
            else:
                original[name] = _merge_map(current, value, sub)
        elif isinstance(current, list):
            sub, strategy, merge_key = _meta(schema, name)
            if strategy == "merge" or deleting:
                original[name] = _merge_list(current, value, _items(sub), merge_key, deleting)[0]
            else:
                put(original, name, value)
        else:
            original[name] = value
    return original


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys: [a, b]`: drop every other key of `original`; the patch may set no other."""
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise bad_request("invalid patch format of retainKeys")
    names = {k for k in keep if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith((DELETE_PRIMITIVES, SET_ORDER)):
            continue
        if k not in names:
            raise bad_request("invalid patch format of retainKeys")
    for k in [k for k in original if k not in names]:
        del original[k]


def _set_element_orders(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> None:
    """Merge each list named by a `$setElementOrder/<list>` and put it in the stated order."""
    for directive in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _order.bad_arg_type("[]interface {}", order)
        name = _strip_prefix(directive, SET_ORDER)
        in_original, in_patch = name in original, name in patch
        live, wanted = original.get(name), patch.get(name)
        if in_original and not isinstance(live, list):
            raise _order.bad_arg_type("[]interface {}", live)
        if in_patch and not isinstance(wanted, list):
            raise _order.bad_arg_type("[]interface {}", wanted)
        sub, strategy, merge_key = _meta(schema, name)
        _order.validate_order(wanted or [], order, merge_key)
        if in_original and in_patch:
            if strategy == "merge":
                merged, view = _merge_list(live or [], wanted or [], _items(sub), merge_key, False)
            else:
                merged, view = clean_list(wanted or []), live or []
        elif in_original:
            merged, view = live or [], live or []
        elif in_patch:
            merged, view = clean_list(wanted or []), []
        else:
            continue
        is_map = _elements_kind(live or [], wanted or []) == "map"
        named, server_only = _order.partition(merged, order, merge_key)
        original[name] = _order.normalize(named, server_only, order, view, merge_key, is_map)
        patch.pop(name, None)


def _merge_list(original: list[Any], patch: list[Any], item_schema: Schema, merge_key: str,
                deleting: bool) -> tuple[list[Any], list[Any]]:
    """Merge a patch list into a live list with strategy `merge`.

    Returns the merged list and what upstream's caller later sees as "the live list": Go
    deletes and appends in place in the live slice's backing array, and the `$setElementOrder`
    step orders by that array. We replay those writes so the final order matches upstream.
    """
    if not original and not patch:
        return original, original
    kind = _elements_kind(original, patch)
    if kind != "map":
        if deleting:
            gone = {key(v) for v in patch}
            return [v for v in original if key(v) not in gone], original
        merged: list[Any] = []
        seen: set[Any] = set()
        for v in original + patch:
            if key(v) not in seen:
                seen.add(key(v))
                merged.append(v)
        named, server_only = _order.partition(merged, patch, "")
        return _order.normalize(named, server_only, patch, original, "", False), original
    if not merge_key:
        raise internal(f"cannot merge lists without merge key for {_schema_name(item_schema)}")
    backing, work, detached = list(original), list(original), False
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _order.no_merge_key(item, merge_key)
            while (i := _find(work, merge_key, item[merge_key])) >= 0:
                del work[i]
                backing[: len(work)] = work
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise internal("merging lists cannot yet be specified in the patch")
        else:
            raise internal(f"unknown patch type: {go_fmt(directive)} in map: {go_fmt(item)}")
    if replace:
        work, plain, detached = [clean_map(dict(v)) for v in plain], [], True
    server_order = list(work)
    for item in plain:
        if merge_key not in item:
            raise _order.no_merge_key(item, merge_key)
        i = _find(work, merge_key, item[merge_key])
        if i >= 0:
            work[i] = _merge_map(work[i], item, item_schema)
            if not detached:
                backing[i] = work[i]
        else:
            work.append(clean_map(item))
            if not detached and len(work) <= len(backing):
                backing[len(work) - 1] = work[-1]
            else:
                detached = True
    named, server_only = _order.partition(work, plain, merge_key)
    return _order.normalize(named, server_only, plain, server_order, merge_key, True), backing


def _items(field_schema: Schema) -> Schema:
    """Schema of a list field's items (a non-array schema describes the items itself)."""
    items = sch.items(field_schema)
    if items is None and field_schema is not None and field_schema.get("type") != "array":
        return field_schema
    return items


def _find(items: list[Any], merge_key: str, value: Any) -> int:
    wanted = key(value)
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise internal(f"value for key {i} is not a map")
        if merge_key in v and key(v[merge_key]) == wanted:
            return i
    return -1


_KIND_OF_GO_TYPE = {"map[string]interface {}": "map", "[]interface {}": "slice", "<nil>": "nil"}


def _kind(value: Any) -> str:
    """Go's reflect kind of a decoded JSON value, as far as mergeMap compares them."""
    t = go_type(value)
    return _KIND_OF_GO_TYPE.get(t, t)


def _elements_kind(*lists: list[Any]) -> str:
    """The one element type of the lists; upstream refuses lists of lists and mixed lists."""
    found = ""
    for lst in lists:
        for v in lst:
            k = _kind(v)
            if k == "slice":
                raise invalid("lists of lists are not supported")
            if found and k != found or k == "nil":
                raise internal(f"list element types are not identical: {go_fmt(list(lists))}")
            found = k
    return found


def _strip_prefix(directive: str, prefix: str) -> str:
    head, sep, rest = directive.partition("/")
    if not sep or head != prefix:
        which = "primitive list" if prefix == DELETE_PRIMITIVES else "setElementOrder list"
        raise bad_request(f"invalid patch format of {which}")
    return rest


def _schema_name(schema: Schema) -> str:
    return str((schema or {}).get("x-kubernetes-group-version-kind", "") or "map")
