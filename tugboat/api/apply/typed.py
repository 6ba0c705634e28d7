"""The structure server-side apply sees in an OpenAPI schema, compiled once per schema node.

Server-side apply needs only a few facts per node: is it a scalar, a list or a map; is it
atomic (owned and replaced whole) or granular; for an associative list, its key fields (and
their defaults) or whether it is a set; for a map, which keys are declared struct fields. These
are read from `x-kubernetes-list-type` / `-list-map-keys` / `-map-type`, falling back to
`x-kubernetes-patch-strategy: merge` + `-patch-merge-key` for built-in lists that predate list
types (kube-openapi's schema conversion does the same). Nodes without usable type information
are "deduced" from the value: maps granular, lists atomic, as structured-merge-diff does for
untyped fields.

Compiled nodes are cached by the identity of the schema dict (and keep it alive), so walking
a Deployment twice does not resolve `$ref`s twice.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import schema as openapi

from .fieldset import json_text

SCALAR, LIST, MAP, DEDUCED = "scalar", "list", "map", "deduced"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Go zero values: non-pointer struct fields that a freshly created built-in object already
# has (`spec: {}`), so a create does not mark them as newly added. The OpenAPI we carry has no
# `default: {}` markers, so the common ones are named here.
_GO_ZERO_STRUCTS = frozenset({
    "metadata", "spec", "status", "template", "strategy", "updateStrategy", "jobTemplate",
    "loadBalancer", "resources", "daemonEndpoints", "nodeInfo", "kubeletEndpoint",
})
# Defaults of associative-list key fields that upstream's OpenAPI v3 declares.
_KEY_DEFAULTS = {"protocol": "TCP"}


class SchemaError(Exception):
    """An object does not fit structured-merge-diff's rules (duplicate keys, missing keys)."""


class TypeNode:
    __slots__ = ("kind", "atomic", "keys", "key_defaults", "props", "required", "builtin",
                 "_addl", "_items", "_children", "_elem", "_overrides")

    def __init__(self, kind: str, *, atomic: bool = False, builtin: bool = False) -> None:
        self.kind = kind
        self.atomic = atomic
        self.keys: tuple[str, ...] = ()
        self.key_defaults: dict[str, Any] = {}
        self.props: dict[str, Any] = {}
        self.required: frozenset[str] = frozenset()
        self.builtin = builtin
        self._addl: Any = None
        self._items: Any = None
        self._children: dict[str, TypeNode] = {}
        self._elem: TypeNode | None = None
        self._overrides: dict[str, TypeNode] = {}

    @property
    def is_set(self) -> bool:
        return self.kind == LIST and not self.atomic and not self.keys

    def has_field(self, name: str) -> bool:
        """True when `name` is a declared struct field (not a map entry)."""
        return name in self.props or name in self._overrides

    def field(self, name: str) -> TypeNode:
        t = self._children.get(name)
        if t is None:
            t = self._overrides.get(name)
            if t is None:
                raw = self.props.get(name)
                if raw is None:
                    raw = self._addl if isinstance(self._addl, dict) else None
                t = compile_type(raw, self.builtin) if raw is not None else DEDUCED_TYPE
            self._children[name] = t
        return t

    @property
    def elem(self) -> TypeNode:
        if self._elem is None:
            self._elem = compile_type(self._items, self.builtin) if isinstance(self._items, dict) else DEDUCED_TYPE
        return self._elem

    def zero_value(self, name: str) -> tuple[bool, Any]:
        """(present, value) of field `name` in a Go zero object of this struct type."""
        if not self.builtin or name not in self.props:
            return False, None
        t = self.field(name)
        if t.kind == MAP and t.props and (name in _GO_ZERO_STRUCTS or name in self.required):
            return True, {}
        if name in self.required and t.kind in (LIST, MAP):
            return True, None
        return False, None


DEDUCED_TYPE = TypeNode(DEDUCED)
_CACHE: dict[tuple[int, bool], tuple[Any, TypeNode]] = {}
_CACHE_MAX = 50_000


def compile_type(raw: Any, builtin: bool) -> TypeNode:
    if not isinstance(raw, dict):
        return DEDUCED_TYPE
    key = (id(raw), builtin)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is raw:
        return hit[1]
    node = _compile(raw, builtin)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = (raw, node)
    return node


def _compile(raw: dict[str, Any], builtin: bool) -> TypeNode:
    s = openapi.resolve(raw) if builtin else raw
    assert s is not None
    if s.get("x-kubernetes-int-or-string"):
        return TypeNode(SCALAR)
    typ = s.get("type")
    if typ == "array" or "items" in s:
        return _compile_list(s, builtin)
    if typ == "object" or "properties" in s or "additionalProperties" in s:
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        if not props and not isinstance(addl, dict):
            return DEDUCED_TYPE
        t = TypeNode(MAP, atomic=s.get("x-kubernetes-map-type") == "atomic", builtin=builtin)
        t.props = props
        t.required = frozenset(s.get("required") or ())
        t._addl = addl
        return t
    if typ in ("string", "integer", "number", "boolean"):
        return TypeNode(SCALAR)
    return DEDUCED_TYPE


def _compile_list(s: dict[str, Any], builtin: bool) -> TypeNode:
    list_type = s.get("x-kubernetes-list-type")
    keys: list[str] = []
    if list_type is None:
        strategy = str(s.get("x-kubernetes-patch-strategy", "")).split(",")
        if "merge" in strategy:
            list_type = "map" if s.get("x-kubernetes-patch-merge-key") else "set"
            keys = [s["x-kubernetes-patch-merge-key"]] if list_type == "map" else []
        else:
            list_type = "atomic"
    elif list_type == "map":
        keys = list(s.get("x-kubernetes-list-map-keys") or [])
    t = TypeNode(LIST, atomic=list_type not in ("map", "set"), builtin=builtin)
    t._items = s.get("items")
    if list_type == "map":
        t.keys = tuple(sorted(keys))
        elem = t.elem
        for k in keys:
            prop = elem.props.get(k) if elem.kind == MAP else None
            prop = openapi.resolve(prop) if (builtin and prop) else prop
            if isinstance(prop, dict) and "default" in prop:
                t.key_defaults[k] = prop["default"]
            elif builtin and k in _KEY_DEFAULTS:
                t.key_defaults[k] = _KEY_DEFAULTS[k]
    return t


def root_type(schema: dict[str, Any] | None) -> TypeNode:
    """The type of a whole object. Built-in kinds (recognised by their group-version-kind
    marker) resolve `$ref`s; other schemas (CRD `openAPIV3Schema`, or None) get ObjectMeta's
    schema for `metadata`, as the API server does for custom resources."""
    builtin = bool(schema and schema.get("x-kubernetes-group-version-kind"))
    if builtin:
        return compile_type(schema, True)
    meta = compile_type(openapi.definitions()[OBJECT_META], True)
    base = compile_type(schema, False) if schema is not None else DEDUCED_TYPE
    key = (id(schema), False)
    cached = _ROOTS.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    root = TypeNode(MAP, atomic=False)
    if base.kind == MAP:
        root.props, root.required, root._addl = base.props, base.required, base._addl
    else:
        root._addl = True
    root._overrides = {"metadata": meta}
    if len(_ROOTS) > 1024:
        _ROOTS.clear()
    _ROOTS[key] = (schema, root)
    return root


_ROOTS: dict[tuple[int, bool], tuple[Any, TypeNode]] = {}


def item_pe(t: TypeNode, item: Any) -> str:
    """The path element of one item of an associative list (raises SchemaError)."""
    if t.keys:
        if not isinstance(item, dict):
            if item is None:
                raise SchemaError("associative list with keys may not have a null element")
            raise SchemaError("associative list with keys may not have non-map elements")
        fields: dict[str, Any] = {}
        for k in t.keys:
            if k in item:
                fields[k] = item[k]
            elif k in t.key_defaults:
                fields[k] = t.key_defaults[k]
        if not fields:
            raise SchemaError(
                f"associative list with keys has an element that omits all key fields {_go_list(t.keys)} "
                "(and doesn't have default values for any key fields)")
        return "k:" + json_text(fields)
    if isinstance(item, dict):
        raise SchemaError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise SchemaError("not supported: associative list with lists as elements")
    if item is None:
        raise SchemaError("associative list without keys has an element that's an explicit null")
    return "v:" + json_text(item)


def _go_list(keys: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{k}"' for k in keys) + "]"


def category(t: TypeNode, v: Any) -> str:
    """How a value is walked: MAP/LIST (granular, descended into) or SCALAR (a leaf)."""
    if v is None:
        return SCALAR
    kind = t.kind
    if kind == MAP:
        return MAP if (type(v) is dict and not t.atomic) else SCALAR
    if kind == LIST:
        return LIST if (type(v) is list and not t.atomic) else SCALAR
    if kind == DEDUCED:
        return MAP if type(v) is dict else SCALAR
    return SCALAR
