"""Server-side apply and managedFields tracking for ordinary writes, as pure functions.

`apply` is structured-merge-diff's Updater.Apply wrapped the way the API server wraps it
(apimachinery `managedfields/internal`): merge the configuration into the live object; prune
what this applier set last time but no longer sets (unless someone else owns it); refuse to
change fields other managers own (409 with one cause per field) unless forced, in which case
they lose them; strip the metadata fields nobody may own; stamp the time only when the object
changed. For `kubectl` it also honours and rewrites the client-side-apply annotation, so a
`kubectl apply --server-side` after a client-side `kubectl apply` does not conflict.

`update_managed_fields` is Updater.Update for POST/PUT/PATCH: the fields that changed become
owned by the writer's Update entry and are taken from everyone else.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.errors import ApiError, FieldError

from .fieldset import FieldSet, Path, path_sort_key, path_string
from .lastapplied import allowed_by_last_applied, update_last_applied
from .managed import (
    Entry,
    Managed,
    ManagerId,
    cap_update_managers,
    decode,
    decode_or_empty,
    encode,
    is_reset,
    manager_id,
    print_manager,
)
from .merge import merge
from .typed import SchemaError, TypeNode, root_type
from .walk import compare, ensure_named_fields_are_members, remove_items, to_set

# stripmeta.go: fields that are never owned by anyone.
STRIPPED = FieldSet.from_paths([
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", "f:" + n) for n in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                         "clusterName", "generation", "managedFields", "resourceVersion")),
])
_STATUS = FieldSet.from_paths([("f:status",)])
_SPEC = FieldSet.from_paths([("f:spec",)])


def default_reset_fields(subresource: str) -> FieldSet:
    """Fields a write through `subresource` cannot change, hence never owns: status through the
    main resource, spec through /status. Pass `reset_fields=FieldSet()` for kinds without a
    status subresource (e.g. a CRD that does not enable it)."""
    if subresource == "":
        return _STATUS
    if subresource == "status":
        return _SPEC
    return FieldSet()


def fields_of(obj: dict[str, Any], schema: dict[str, Any] | None) -> FieldSet:
    """The fields `obj` sets (leaves, list items, empty maps), minus never-owned metadata."""
    return to_set(obj, root_type(schema)).difference(STRIPPED)


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    out = dict(obj)
    out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _managed_fields_of(obj: dict[str, Any] | None) -> Any:
    meta = obj.get("metadata") if obj else None
    return meta.get("managedFields") if isinstance(meta, dict) else None


# ---------------------------------------------------------------- Update

def update_managed_fields(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str,
                          schema: dict[str, Any] | None, api_version: str, now: str,
                          subresource: str = "", operation: str = "Update",
                          reset_fields: FieldSet | None = None) -> None:
    """Record an ordinary write in `new["metadata"]["managedFields"]` (mutates `new`).

    The base is the client's managedFields when it sent a non-empty valid list (users may edit
    them), nothing when it sent `[]`/`[{}]` (reset), else the stored object's; subresource
    writes always start from the stored object's."""
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return
    old_mf = _managed_fields_of(old)
    new_mf = meta.get("managedFields")
    managed: Managed
    if subresource:
        managed = decode_or_empty(old_mf)
    elif is_reset(new_mf):
        managed = {}
    else:
        try:
            managed = decode(new_mf)
        except (ValueError, TypeError):
            managed = {}
        if not managed:
            managed = decode_or_empty(old_mf)
    meta.pop("managedFields", None)
    t = root_type(schema)
    reset = default_reset_fields(subresource) if reset_fields is None else reset_fields
    before = _without_managed_fields(old) if old else {}
    added, modified, removed = _changes(before, new, t, reset)
    changed = added.union(modified)
    _take_from_others(managed, None, changed, removed)
    mine = changed.difference(STRIPPED)
    if mine:
        mid = manager_id(manager, operation, api_version, subresource)
        prev = managed.get(mid)
        managed[mid] = Entry(mine.union(prev.fields) if prev else mine, api_version, operation == "Apply", now)
    cap_update_managers(managed)
    rows = encode(managed)
    if rows:
        meta["managedFields"] = rows


def _changes(before: Any, after: Any, t: TypeNode, reset: FieldSet) -> tuple[FieldSet, FieldSet, FieldSet]:
    sets = compare(before, after, t, zero_fill=t.builtin).sets()
    if reset:
        return tuple(s.recursive_difference(reset) for s in sets)  # type: ignore[return-value]
    return sets


def _take_from_others(managed: Managed, me: ManagerId | None, changed: FieldSet, removed: FieldSet) -> None:
    for mid in list(managed):
        if mid == me:
            continue
        entry = managed[mid]
        left = entry.fields.difference(changed).difference(removed)
        if left.empty():
            del managed[mid]
        elif left is not entry.fields:
            managed[mid] = Entry(left, entry.api_version, entry.applied, entry.time)


# ---------------------------------------------------------------- Apply

class _Conflicts(Exception):
    def __init__(self, items: list[tuple[ManagerId, Path]]) -> None:
        super().__init__("conflicts")
        self.items = items

    def error(self) -> ApiError:
        items = sorted(self.items, key=lambda x: (x[0], path_sort_key(x[1])))
        causes = [FieldError("FieldManagerConflict", path_string(p), "conflict with " + print_manager(m))
                  for m, p in items]
        if len(items) == 1:
            m, p = items[0]
            message = f"Apply failed with 1 conflict: conflict with {print_manager(m)}: {path_string(p)}"
        else:
            lines: list[str] = []
            last: ManagerId | None = None
            for m, p in items:
                if m != last:
                    lines.append(f"conflicts with {print_manager(m)}:")
                    last = m
                lines.append(f"- {path_string(p)}")
            message = f"Apply failed with {len(items)} conflicts: " + "\n".join(lines)
        return ApiError(409, "Conflict", message, None, causes)


def _gvk_string(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def _validate_applied(applied: Any, api_version: str, kind: str | None) -> None:
    if not isinstance(applied, dict):
        raise ApiError(400, "BadRequest", "invalid object type: /, Kind=")
    av, k = applied.get("apiVersion"), applied.get("kind")
    av = av if isinstance(av, str) else ""
    k = k if isinstance(k, str) else ""
    if not av or not k or av != api_version or (kind is not None and k != kind):
        raise ApiError(400, "BadRequest", f"invalid object type: {_gvk_string(av, k)}")
    meta = applied.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise ApiError(400, "BadRequest", "invalid object type: metadata must be an object")
    if isinstance(meta, dict) and isinstance(meta.get("managedFields"), list):
        raise ApiError(400, "BadRequest", "metadata.managedFields must be nil")


def apply(live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str,
          schema: dict[str, Any] | None, force: bool, api_version: str, now: str,
          subresource: str = "", kind: str | None = None,
          reset_fields: FieldSet | None = None) -> dict[str, Any]:
    """Server-side apply `applied` (the decoded apply-patch body) onto `live` (None: create).

    Returns the new object with managedFields set; raises ApiError 400 for a body of the wrong
    kind/version or carrying managedFields, 409 Conflict (cause per field) on ownership
    conflicts, 500 for a body structured-merge-diff cannot type (duplicate list keys).
    The result shares unchanged subtrees with `live` and `applied`: treat both as consumed."""
    _validate_applied(applied, api_version, kind if kind is not None else (live or {}).get("kind"))
    t = root_type(schema)
    live_obj = _without_managed_fields(live) if live else {}
    managed = decode_or_empty(_managed_fields_of(live))
    reset = default_reset_fields(subresource) if reset_fields is None else reset_fields
    try:
        config_set = to_set(applied, t, strict=True)
    except SchemaError as e:
        meta = applied.get("metadata") or {}
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {_gvk_string(api_version, applied['kind'])}"
        raise ApiError(500, "", f"failed to create typed patch object ({where}): {e}") from None
    mid = manager_id(manager, "Apply", api_version, subresource)
    try:
        result, managed = _apply(live_obj, applied, config_set, t, managed, mid, force, reset, api_version, now)
    except _Conflicts as c:
        allowed = allowed_by_last_applied(live_obj, t, api_version) if manager == "kubectl" else None
        if allowed is None:
            raise c.error() from None
        remaining = [(m, p) for m, p in c.items if not allowed.has(p)]
        if remaining:
            raise _Conflicts(remaining).error() from None
        result, managed = _apply(live_obj, applied, config_set, t, managed, mid, True, reset, api_version, now)
    result = dict(result)
    meta = result["metadata"] = dict(result.get("metadata") or {})
    if manager == "kubectl":
        update_last_applied(meta, applied)
    meta.pop("managedFields", None)
    rows = encode(managed)
    if rows:
        meta["managedFields"] = rows
    return result


def _apply(live: dict[str, Any], applied: dict[str, Any], config_set: FieldSet, t: TypeNode,
           managed: Managed, mid: ManagerId, force: bool, reset: FieldSet, api_version: str,
           now: str) -> tuple[dict[str, Any], Managed]:
    managed = dict(managed)
    merged = merge(live, applied, t)
    last = managed.get(mid)
    mine = config_set.recursive_difference(reset) if reset else config_set
    managed[mid] = Entry(mine, api_version, True, last.time if last else None)
    new = _prune(merged, t, managed, last.fields if last else None)
    added, modified, removed = _changes(live, new, t, reset)
    changed = added.union(modified)
    conflicts = [(m, p) for m, e in managed.items() if m != mid for p in e.fields.intersection(changed).paths()]
    if conflicts and not force:
        raise _Conflicts(conflicts)
    _take_from_others(managed, mid, changed, removed)
    entry = managed[mid]
    stripped = entry.fields.difference(STRIPPED)
    if stripped.empty():
        del managed[mid]
    else:
        managed[mid] = Entry(stripped, api_version, True, now if new != live else entry.time)
    return new, managed


def _prune(merged: Any, t: TypeNode, managed: Managed, last: FieldSet | None) -> Any:
    """Remove what the applier owned last time and no longer applies, unless another manager
    (or its new configuration) owns it; leave alone everything nobody owned."""
    if last is None or last.empty():
        return merged
    last_n = ensure_named_fields_are_members(last, t)
    pruned = remove_items(merged, last_n, t)
    owned = FieldSet()
    for entry in managed.values():
        owned = owned.union(entry.fields)
    merged_set = ensure_named_fields_are_members(to_set(merged, t), t)
    pruned_set = ensure_named_fields_are_members(to_set(pruned, t), t)
    keep = pruned_set.union(ensure_named_fields_are_members(owned, t))
    pruned = remove_items(merged, merged_set.difference(keep), t)
    pruned_set = ensure_named_fields_are_members(to_set(pruned, t), t)
    return remove_items(merged, merged_set.difference(pruned_set).intersection(last_n), t)
