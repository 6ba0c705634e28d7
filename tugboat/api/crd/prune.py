"""Pruning of unknown fields and structural defaulting of custom objects.

Upstream drops every field a structural schema does not specify (unless
`x-kubernetes-preserve-unknown-fields`), keeping `apiVersion`, `kind` and `metadata` at the root
and inside `x-kubernetes-embedded-resource` objects (their metadata pruned to ObjectMeta's
fields). The removed paths feed fieldValidation=Warn/Strict (`unknown field "spec.foo"`).
Defaulting then fills `default` values, as the apiextensions-apiserver does when reading from
the request and from storage.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from .. import schema as builtin_schema

Schema = dict[str, Any]


@functools.cache
def _object_meta_fields() -> frozenset[str]:
    d = builtin_schema.definitions().get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") or {}
    return frozenset((d.get("properties") or {}).keys())


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def prune(obj: dict[str, Any], schema: Schema | None) -> list[str]:
    """Remove unknown fields from `obj` in place; return the removed paths (sorted)."""
    removed: list[str] = []
    if schema is None:
        return removed
    _prune(obj, schema, "", removed, resource=True)
    return sorted(removed)


def _prune(v: Any, s: Schema, path: str, removed: list[str], resource: bool = False) -> None:
    if isinstance(v, dict):
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        embedded = resource or bool(s.get("x-kubernetes-embedded-resource"))
        for k in list(v):
            p = _child(path, k)
            if embedded and k in ("apiVersion", "kind") and k not in props:
                continue
            if embedded and k == "metadata":
                if isinstance(v[k], dict):
                    _prune_meta(v[k], p, removed)
                if k not in props:
                    continue
            if k in props:
                if isinstance(props[k], dict):
                    _prune(v[k], props[k], p, removed)
            elif isinstance(extra, dict):
                _prune(v[k], extra, p, removed)
            elif not preserve:
                del v[k]
                removed.append(p)
    elif isinstance(v, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(v):
                _prune(item, items, f"{path}[{i}]", removed)


def _prune_meta(m: dict[str, Any], path: str, removed: list[str]) -> None:
    known = _object_meta_fields()
    for k in list(m):
        if k not in known:
            del m[k]
            removed.append(_child(path, k))


def _copy(v: Any) -> Any:
    return orjson.loads(orjson.dumps(v))


def apply_defaults(obj: Any, schema: Schema | None) -> None:
    """Fill schema `default`s in place (missing fields, and nulls of non-nullable fields)."""
    if schema:
        _default(obj, schema)


def _default(v: Any, s: Schema) -> None:
    if isinstance(v, dict):
        props = s.get("properties") or {}
        for k, ps in props.items():
            if not isinstance(ps, dict) or "default" not in ps:
                continue
            if k not in v or (v[k] is None and not ps.get("nullable")):
                v[k] = _copy(ps["default"])
        for k, val in v.items():
            if k in props and isinstance(props[k], dict):
                _default(val, props[k])
            elif isinstance(s.get("additionalProperties"), dict):
                _default(val, s["additionalProperties"])
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        items = s["items"]
        for i, item in enumerate(v):
            if item is None and "default" in items and not items.get("nullable"):
                v[i] = _copy(items["default"])
            _default(v[i], items)
