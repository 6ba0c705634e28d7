"""Thin adapters from the API server's call sites to the pure `tugboat.api` pieces.

They pin the calling conventions the handlers use in one place (selector strings to
predicates, float timestamps to datetimes, a schema lookup that never breaks a write), so the
handlers stay short and the `api` modules stay free of HTTP concerns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tugboat.api import apply as _apply
from tugboat.api import convert as _convert
from tugboat.api import fieldcheck, schema, selectors, tables
from tugboat.api import patch as _patch

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Matcher = Callable[[dict[str, str]], bool]


def label_matcher(selector: str) -> Matcher | None:
    """A predicate on a labels dict, or None for 'everything'. 400 on a bad selector."""
    if not selector.strip():
        return None
    return selectors.parse_label_selector(selector).matches


def field_matcher(selector: str) -> Matcher | None:
    """A predicate on a field-values dict, or None for 'everything'. 400 on a bad selector."""
    if not selector.strip():
        return None
    return selectors.parse_field_selector(selector).matches


def to_table(group: str, kind: str, objects: list[Obj], *, now: float, include_object: str,
             crd_columns: list[Obj] | None, list_meta: Obj | None = None, no_headers: bool = False) -> Obj:
    return tables.to_table(group, kind, objects, now=datetime.fromtimestamp(now, UTC),
                           include_object=include_object, crd_columns=crd_columns, list_meta=list_meta,
                           no_headers=no_headers)


json_patch = _patch.json_patch
merge_patch = _patch.merge_patch
strategic_merge_patch = _patch.strategic_merge_patch
apply = _apply.apply
update_managed_fields = _apply.update_managed_fields
manager_from_user_agent = _apply.manager_from_user_agent


def convert(obj: Obj, to_api_version: str) -> Obj:
    if obj.get("apiVersion") == to_api_version:
        return obj
    return _convert.convert(obj, to_api_version)


def unknown_fields(obj: Obj, kind_schema: Any) -> list[str]:
    if kind_schema is None:
        return []
    return list(fieldcheck.unknown_fields(obj, kind_schema))


def schema_for(group: str, version: str, kind: str) -> Any:
    try:
        return schema.for_kind(group, version, kind)
    except Exception:  # missing package data must not break writes
        log.exception("schema for %s/%s %s", group, version, kind)
        return None
