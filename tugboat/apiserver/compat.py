"""Adapters to the pure `tugboat.api` pieces other engineers provide, with fallbacks.

The API server calls selectors, tables, patches, apply, conversion, field checks, CRD helpers,
discovery and OpenAPI builders through this one module. Each is imported lazily on first use;
while a piece is missing, a small fallback keeps the server usable (documented per function),
so integration is a matter of the real module appearing — no call site changes.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tugboat.api.errors import bad_request

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_MODS: dict[str, ModuleType | None] = {}


def mod(name: str) -> ModuleType | None:
    """`tugboat.api.<name>` or None if it is not there (yet)."""
    if name not in _MODS:
        try:
            _MODS[name] = importlib.import_module(f"tugboat.api.{name}")
        except ImportError as e:
            if e.name and not e.name.startswith(f"tugboat.api.{name}") and e.name != "tugboat.api." + name:
                log.warning("tugboat.api.%s failed to import: %s", name, e)
            _MODS[name] = None
    return _MODS[name]


def fn(modname: str, attr: str) -> Callable[..., Any] | None:
    m = mod(modname)
    f = getattr(m, attr, None) if m else None
    return f if callable(f) else None


# ---- selectors ------------------------------------------------------------------------------
Matcher = Callable[[dict[str, str]], bool]


def label_matcher(selector: str) -> Matcher | None:
    """A predicate on a labels dict, or None for 'everything'. 400 on a bad selector."""
    if not selector.strip():
        return None
    parse = fn("selectors", "parse_label_selector")
    if parse is not None:
        try:
            sel = parse(selector)
        except ValueError as e:
            raise bad_request(f"unable to parse requirement: {e}") from None
        return _as_matcher(sel)
    raise RuntimeError("tugboat.api.selectors is missing")


def field_matcher(selector: str) -> Matcher | None:
    if not selector.strip():
        return None
    parse = fn("selectors", "parse_field_selector")
    if parse is not None:
        try:
            sel = parse(selector)
        except ValueError as e:
            raise bad_request(f"invalid field selector: {e}") from None
        return _as_matcher(sel)
    raise RuntimeError("tugboat.api.selectors is missing")


def _as_matcher(sel: Any) -> Matcher:
    if sel is None:
        return lambda _d: True
    m = getattr(sel, "matches", None)
    if callable(m):
        return m  # type: ignore[no-any-return]
    top = fn("selectors", "matches")
    if top is not None:
        return lambda d: bool(top(sel, d))
    if callable(sel):
        return sel  # type: ignore[no-any-return]
    raise RuntimeError("tugboat.api.selectors: no way to match a parsed selector")


# ---- tables ---------------------------------------------------------------------------------
def to_table(group: str, kind: str, objects: list[Obj], *, now: float, include_object: str,
             crd_columns: list[Obj] | None, list_meta: Obj | None = None, no_headers: bool = False) -> Obj:
    f = fn("tables", "to_table")
    if f is not None:
        from datetime import UTC, datetime
        return f(group, kind, objects, now=datetime.fromtimestamp(now, UTC),  # type: ignore[no-any-return]
                 include_object=include_object, crd_columns=crd_columns, list_meta=list_meta,
                 no_headers=no_headers)
    raise RuntimeError("tugboat.api.tables is missing")


# ---- patches --------------------------------------------------------------------------------
def json_patch(doc: Obj, ops: Any) -> Obj:
    from tugboat.api.patch import json_patch as f
    return f(doc, ops)  # type: ignore[no-any-return]


def merge_patch(doc: Obj, patch: Any) -> Obj:
    from tugboat.api.patch import merge_patch as f
    return f(doc, patch)  # type: ignore[no-any-return]


def strategic_merge_patch(doc: Obj, patch: Any, schema: Any) -> Obj:
    from tugboat.api.patch import strategic_merge_patch as f
    return f(doc, patch, schema)  # type: ignore[no-any-return]


# ---- apply / managed fields -----------------------------------------------------------------
def apply(live: Obj | None, applied: Obj, **kw: Any) -> Obj:
    f = fn("apply", "apply")
    if f is None:  # until tugboat.api.apply lands: merge the applied config into the live object
        from tugboat.api.patch import merge_patch
        return merge_patch(live or {}, applied)  # type: ignore[no-any-return]
    return f(live, applied, **kw)  # type: ignore[no-any-return]


def update_managed_fields(old: Obj | None, new: Obj, **kw: Any) -> None | Obj:
    f = fn("apply", "update_managed_fields")
    if f is None:
        return None
    return f(old, new, **kw)  # type: ignore[no-any-return]


def manager_from_user_agent(ua: str) -> str:
    f = fn("apply", "manager_from_user_agent")
    if f is not None:
        return f(ua)  # type: ignore[no-any-return]
    return ua.split("/", 1)[0][:128] if ua else ""


# ---- conversion, field checks, schemas ------------------------------------------------------
def convert(obj: Obj, to_api_version: str) -> Obj:
    if obj.get("apiVersion") == to_api_version:
        return obj
    f = fn("convert", "convert")
    if f is not None:
        return f(obj, to_api_version)  # type: ignore[no-any-return]
    obj["apiVersion"] = to_api_version
    return obj


def unknown_fields(obj: Obj, schema: Any) -> list[str]:
    f = fn("fieldcheck", "unknown_fields")
    if f is None or schema is None:
        return []
    return list(f(obj, schema))


def schema_for(group: str, version: str, kind: str) -> Any:
    from tugboat.api import schema
    try:
        return schema.for_kind(group, version, kind)
    except Exception:  # missing package data must not break writes
        log.exception("schema for %s/%s %s", group, version, kind)
        return None
