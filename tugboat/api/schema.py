"""The OpenAPI schemas of the built-in kinds, and helpers to walk them.

The definitions come from Kubernetes 1.32's own OpenAPI (as packaged on PyPI by
`kubernetes-validate`), so descriptions, `x-kubernetes-patch-merge-key`/`-strategy`,
`x-kubernetes-list-type`/`-list-map-keys` and group-version-kinds are upstream's. They feed
four users: the OpenAPI v3 documents kubectl downloads (apply validation, explain, its own
strategic-merge-patch computation), strategic merge patch on the server, server-side apply
(list types), and strict field validation (unknown fields).

The packaged copy is the "non-strict" JSON-schema flavour: types carry an extra "null" and
int-or-string is a oneOf. `load()` normalises both back to OpenAPI form once, at first use.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson

Schema = dict[str, Any]
REF_PREFIX = "#/$defs/"
OPENAPI_REF_PREFIX = "#/components/schemas/"
K8S_VERSION_DIR = "v1.32.0-local"


def _normalise(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalise(x) for x in node]
    if not isinstance(node, dict):
        return node
    one_of = node.get("oneOf")
    if one_of and len(one_of) == 2:
        kinds = {t for o in one_of for t in (o.get("type") if isinstance(o.get("type"), list) else [o.get("type")])}
        kinds.discard("null")
        if kinds in ({"string", "integer"}, {"string", "number"}):
            out = {k: _normalise(v) for k, v in node.items() if k != "oneOf"}
            out["type"] = "string" if kinds == {"string", "integer"} else "string"
            out["x-kubernetes-int-or-string"] = True
            return out
    out = {}
    for k, v in node.items():
        if k == "type" and isinstance(v, list):
            types = [t for t in v if t != "null"]
            out[k] = types[0] if len(types) == 1 else types
        elif k == "$ref" and isinstance(v, str) and v.startswith(REF_PREFIX):
            out[k] = OPENAPI_REF_PREFIX + v[len(REF_PREFIX):]
        elif k == "properties" and isinstance(v, dict):
            out[k] = {pk: _normalise(pv) for pk, pv in v.items()}
        elif k == "enum" and isinstance(v, list):
            # The packaged apiVersion/kind enums are a JSON-schema addition, not upstream's.
            continue
        else:
            out[k] = _normalise(v)
    return out


@functools.cache
def definitions() -> dict[str, Schema]:
    """All component schemas by name (`io.k8s.api.core.v1.Pod`), in OpenAPI form."""
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / K8S_VERSION_DIR / "_definitions.json"
    raw = orjson.loads(path.read_bytes())
    defs = raw.get("$defs") or raw.get("definitions") or {}
    return {name: _normalise(s) for name, s in defs.items()}


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, s in definitions().items():
        for gvk in s.get("x-kubernetes-group-version-kind", []) or []:
            out.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The component schema name for a built-in kind, or None (e.g. for custom resources)."""
    return _gvk_index().get((group, version, kind))


def for_kind(group: str, version: str, kind: str) -> Schema | None:
    name = definition_name(group, version, kind)
    return definitions()[name] if name else None


def resolve(schema: Schema | None) -> Schema | None:
    """Follow `$ref` (also through `allOf: [{$ref}]`) to the referenced schema, keeping the
    referring node's own extensions (a field's patch strategy lives beside its $ref)."""
    if schema is None:
        return None
    seen = 0
    while True:
        ref = schema.get("$ref")
        if ref is None and len(schema.get("allOf", ())) == 1:
            ref = schema["allOf"][0].get("$ref")
        if not ref or seen > 32:
            return schema
        target = definitions().get(ref.rsplit("/", 1)[-1])
        if target is None:
            return schema
        merged = dict(target)
        for k, v in schema.items():
            if k.startswith("x-kubernetes-") and k not in merged:
                merged[k] = v
        schema = merged
        seen += 1


def field(schema: Schema | None, name: str) -> Schema | None:
    """The (resolved) schema of property `name` of an object schema, or of its map values."""
    s = resolve(schema)
    if s is None:
        return None
    props = s.get("properties")
    if props and name in props:
        return resolve(props[name])
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        return resolve(ap)
    return None


def items(schema: Schema | None) -> Schema | None:
    s = resolve(schema)
    if s is None:
        return None
    it = s.get("items")
    return resolve(it) if isinstance(it, dict) else None


def patch_strategy(schema: Schema | None) -> tuple[str, str | None]:
    """(x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key) of a field schema."""
    if schema is None:
        return "", None
    return schema.get("x-kubernetes-patch-strategy", ""), schema.get("x-kubernetes-patch-merge-key")


def list_type(schema: Schema | None) -> tuple[str, list[str]]:
    """(x-kubernetes-list-type or 'atomic', x-kubernetes-list-map-keys) of an array schema."""
    if schema is None:
        return "atomic", []
    return schema.get("x-kubernetes-list-type", "atomic"), list(schema.get("x-kubernetes-list-map-keys", []))
