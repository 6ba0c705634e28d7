"""`components.schemas` of an OpenAPI v3 document: upstream's definitions plus CRD schemas.

kubectl depends on these being complete: `explain` walks them by the kind's
`x-kubernetes-group-version-kind`, and client-side `apply` builds its strategic merge patch
from `x-kubernetes-patch-merge-key`/`-strategy` — a missing referenced schema makes it warn
`unable to find api field` and fall back. So every schema reachable from the paths is
included, in upstream's v3 form: a `$ref` that carries siblings (a field description, patch
extensions) is wrapped as `allOf: [{$ref}]`, IntOrString and Quantity are the v3 `oneOf`s.
Transformed schemas are cached per name and shared between documents: never mutate them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tugboat.api import schema as S

Schema = dict[str, Any]
REF_PREFIX = "#/components/schemas/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"

_OVERRIDES: dict[str, Schema] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
                       "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
                       "to have, for example, a JSON field that can accept a name or number.",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
                       "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() "
                       "accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= "
                       "<signedNumber><suffix>\n```\n\nExamples: 100m, 1Gi, 1.5, 2k",
        "oneOf": [{"type": "string"}, {"type": "number"}],
    },
}


_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_ONE = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _wrap(node: Any) -> Any:
    """Upstream v3 form of one schema node: a `$ref` never has siblings (ones with a
    description or patch extensions become `allOf: [{$ref}]`), inline int-or-string is v3's."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for k, v in node.items():
        if k in _SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {pk: _wrap(pv) for pk, pv in v.items()}
        elif k in _SCHEMA_ONE:
            out[k] = _wrap(v)
        elif k in _SCHEMA_LISTS and isinstance(v, list):
            out[k] = [_wrap(x) for x in v]
        else:
            out[k] = v
    if "$ref" in out and len(out) > 1:
        r = out.pop("$ref")
        out = {"allOf": [{"$ref": r}], **out}
    if out.get("x-kubernetes-int-or-string") is True and "type" in out and "oneOf" not in out:
        out.pop("type")
        out.pop("x-kubernetes-int-or-string")
        out["format"] = "int-or-string"
        out["oneOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


@functools.cache
def builtin(name: str) -> Schema | None:
    """One upstream definition in v3 output form (cached; read-only)."""
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    s = S.definitions().get(name)
    return None if s is None else _wrap(s)


def refs_in(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith(REF_PREFIX):
            out.add(r[len(REF_PREFIX):])
        for v in node.values():
            if isinstance(v, dict | list):
                refs_in(v, out)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, dict | list):
                refs_in(v, out)


@functools.cache
def _builtin_closure(name: str) -> frozenset[str]:
    """All definition names reachable from `name` (including itself)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        s = builtin(n)
        if s is None:
            continue
        seen.add(n)
        found: set[str] = set()
        refs_in(s, found)
        todo.extend(found - seen)
    return frozenset(seen)


def collect(roots: Iterable[str], custom: Mapping[str, Schema] | None = None) -> dict[str, Schema]:
    """`components.schemas` for a document whose paths reference `roots`, sorted by name."""
    custom = custom or {}
    names: set[str] = set()
    for r in list(roots) + list(custom):
        if r in custom:
            names.add(r)
            found: set[str] = set()
            refs_in(custom[r], found)
            for f in found:
                names |= _builtin_closure(f)
        else:
            names |= _builtin_closure(r)
    out: dict[str, Schema] = {}
    for n in sorted(names):
        s = custom.get(n) or builtin(n)
        if s is not None:
            out[n] = s
    return out


# --- custom resources --------------------------------------------------------------------------


def custom_name(group: str, version: str, kind: str) -> str:
    """Upstream's component name for a CR: reversed group, version, kind (`com.example.v1.Foo`)."""
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def _type_meta_description(field: str) -> str:
    d = S.definitions().get("io.k8s.api.core.v1.Pod", {}).get("properties", {}).get(field, {})
    return str(d.get("description", ""))


def custom_schemas(group: str, version: str, kind: str, list_kind: str, plural: str,
                   open_api_v3: Mapping[str, Any] | None) -> dict[str, Schema]:
    """The component schemas of one custom resource version: the object and its list."""
    obj: Schema = orjson.loads(orjson.dumps(open_api_v3)) if open_api_v3 else {"type": "object"}
    obj.setdefault("type", "object")
    if not open_api_v3:
        obj["x-kubernetes-preserve-unknown-fields"] = True
    props = obj.setdefault("properties", {})
    props["apiVersion"] = {"description": _type_meta_description("apiVersion"), "type": "string"}
    props["kind"] = {"description": _type_meta_description("kind"), "type": "string"}
    props["metadata"] = {"allOf": [{"$ref": REF_PREFIX + OBJECT_META}],
                         "description": f"Standard object's metadata. More info: {_CONVENTIONS}#metadata"}
    obj["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
    name = custom_name(group, version, kind)
    lst: Schema = {
        "description": f"{list_kind} is a list of {kind}",
        "properties": {
            "apiVersion": {"description": _type_meta_description("apiVersion"), "type": "string"},
            "items": {"description": f"List of {plural}. More info: {_CONVENTIONS}",
                      "items": {"$ref": REF_PREFIX + name}, "type": "array"},
            "kind": {"description": _type_meta_description("kind"), "type": "string"},
            "metadata": {"allOf": [{"$ref": REF_PREFIX + LIST_META}],
                         "description": f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": group, "kind": list_kind, "version": version}],
    }
    return {name: obj, custom_name(group, version, list_kind): lst}
