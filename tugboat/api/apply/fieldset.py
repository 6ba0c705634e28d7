"""Field sets: which fields of an object a manager owns, in the exact `fieldsV1` shape.

A set is a trie keyed by path elements written the way structured-merge-diff serialises them
(`f:<field>`, `k:<compact JSON of the key fields, names sorted>`, `v:<JSON value>`,
`i:<index>`). A node that is itself in the set carries the marker key `"."`; a node with no
marker only leads to members below it. Keeping the serialised element as the trie key means a
path element needs no separate type, equality is string equality, and `fieldsV1` converts
without parsing the keys again. Sets are treated as immutable: operations share subtrees.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

MEMBER = "."
_MARK: dict[str, Any] = {}  # the value under MEMBER; never mutated
Node = dict[str, Any]
Path = tuple[str, ...]


def json_text(value: Any) -> str:
    """Compact JSON with sorted object keys and Go's HTML escaping (as upstream's encoders)."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text


# ---------------------------------------------------------------- path elements

def field_pe(name: str) -> str:
    return "f:" + name


@functools.lru_cache(maxsize=8192)
def canonical_pe(pe: str) -> str:
    """Validate one serialised path element and return its canonical spelling."""
    kind, sep, body = pe.partition(":")
    if not sep or kind not in ("f", "k", "v", "i"):
        raise ValueError(f"unknown path element {pe!r}")
    if kind == "f":
        return pe
    if kind == "i":
        return "i:" + str(int(body))
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"invalid path element {pe!r}: {e}") from None
    if kind == "k" and not isinstance(value, dict):
        raise ValueError(f"invalid key path element {pe!r}")
    return kind + ":" + json_text(value)


def _value_key(v: Any) -> tuple[Any, ...]:
    # structured-merge-diff's total order of values: numbers < strings < bools < lists < maps < null.
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v.encode())
    if isinstance(v, list):
        return (3, tuple(_value_key(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k.encode(), _value_key(x)) for k, x in sorted(v.items())))
    return (5,)


@functools.lru_cache(maxsize=8192)
def pe_sort_key(pe: str) -> tuple[Any, ...]:
    """Sort key giving upstream's PathElement order: fields < keys < values < indexes."""
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return (0, body.encode())
    if kind == "k":
        fields = orjson.loads(body)
        return (1, tuple((k.encode(), _value_key(v)) for k, v in fields.items()))
    if kind == "v":
        return (2, _value_key(orjson.loads(body)))
    return (3, int(body))


def _go_quote(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return orjson.dumps(v).decode()
    if isinstance(v, list):
        return "[" + ",".join(_go_quote(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={_go_quote(x)}" for k, x in v.items())
    return str(v)


def pe_string(pe: str) -> str:
    """Human form used in conflict messages: `.spec`, `[name="c"]`, `[="x"]`, `[0]`."""
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return "." + body
    if kind == "k":
        fields = orjson.loads(body)
        return "[" + ",".join(f"{k}={_go_quote(v)}" for k, v in fields.items()) + "]"
    if kind == "v":
        return "[=" + _go_quote(orjson.loads(body)) + "]"
    return "[" + body + "]"


def path_string(path: Path) -> str:
    return "".join(pe_string(pe) for pe in path)


def path_sort_key(path: Path) -> tuple[Any, ...]:
    return tuple(pe_sort_key(pe) for pe in path)


# ---------------------------------------------------------------- trie operations

def _union(a: Node, b: Node) -> Node:
    if not a:
        return b
    if not b or a is b:
        return a
    out = dict(a)
    for k, bv in b.items():
        if k == MEMBER:
            out[k] = _MARK
            continue
        av = a.get(k)
        out[k] = bv if av is None else _union(av, bv)
    return out


def _difference(a: Node, b: Node) -> Node:
    if not b:
        return a
    out: Node = {}
    for k, av in a.items():
        if k == MEMBER:
            if MEMBER not in b:
                out[k] = av
            continue
        bv = b.get(k)
        if bv is None:
            out[k] = av
        else:
            d = _difference(av, bv)
            if d:
                out[k] = d
    return out


def _intersection(a: Node, b: Node) -> Node:
    if len(b) < len(a):
        a, b = b, a
    out: Node = {}
    for k, av in a.items():
        bv = b.get(k)
        if bv is None:
            continue
        if k == MEMBER:
            out[k] = _MARK
            continue
        i = _intersection(av, bv)
        if i:
            out[k] = i
    return out


def _recursive_difference(a: Node, b: Node) -> Node:
    out: Node = {}
    for k, av in a.items():
        bv = None if k == MEMBER else b.get(k)
        if bv is None:
            out[k] = av
        elif MEMBER not in bv:
            d = _recursive_difference(av, bv)
            if d:
                out[k] = d
    return out


def _iter_paths(node: Node, prefix: Path) -> Iterator[Path]:
    for k in sorted((k for k in node if k != MEMBER), key=pe_sort_key):
        child = node[k]
        p = prefix + (k,)
        if MEMBER in child:
            yield p
        yield from _iter_paths(child, p)


def _to_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in sorted((k for k in node if k != MEMBER), key=pe_sort_key):
        child = node[k]
        body: dict[str, Any] = {}
        if MEMBER in child and len(child) > 1:
            body["."] = {}
        body.update(_to_json(child))
        out[k] = body
    return out


def _from_json(d: Any) -> Node:
    if not isinstance(d, dict):
        raise ValueError("fieldsV1 nodes must be JSON objects")
    out: Node = {}
    for k, v in d.items():
        if k == MEMBER:
            out[MEMBER] = _MARK
            continue
        pe = canonical_pe(k)
        child = _from_json(v)
        if not child:
            child = {MEMBER: _MARK}
        out[pe] = _union(out[pe], child) if pe in out else child
    return out


class FieldSet:
    """An immutable set of field paths (see the module docstring)."""

    __slots__ = ("_root",)

    def __init__(self, root: Node | None = None) -> None:
        self._root: Node = root if root is not None else {}

    @classmethod
    def from_fields_v1(cls, d: dict[str, Any]) -> FieldSet:
        """Parse a `fieldsV1` object; raises ValueError on malformed input."""
        root = _from_json(d)
        root.pop(MEMBER, None)
        return cls(root)

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> FieldSet:
        root: Node = {}
        for path in paths:
            node = root
            for pe in path:
                node = node.setdefault(pe, {})
            if path:
                node[MEMBER] = _MARK
        return cls(root)

    def to_fields_v1(self) -> dict[str, Any]:
        return _to_json(self._root)

    @property
    def root(self) -> Node:
        return self._root

    def union(self, other: FieldSet) -> FieldSet:
        return FieldSet(_union(self._root, other._root))

    def difference(self, other: FieldSet) -> FieldSet:
        return FieldSet(_difference(self._root, other._root))

    def intersection(self, other: FieldSet) -> FieldSet:
        return FieldSet(_intersection(self._root, other._root))

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Drop the members of `other` and everything beneath them."""
        return FieldSet(_recursive_difference(self._root, other._root))

    __or__ = union
    __sub__ = difference
    __and__ = intersection

    def empty(self) -> bool:
        return not self._root

    def __bool__(self) -> bool:
        return bool(self._root)

    def has(self, path: Path) -> bool:
        node = self._root
        for pe in path:
            nxt = node.get(pe)
            if nxt is None:
                return False
            node = nxt
        return bool(path) and MEMBER in node

    def paths(self) -> list[Path]:
        """Members in upstream's iteration order."""
        return list(_iter_paths(self._root, ()))

    def __len__(self) -> int:
        return sum(1 for _ in _iter_paths(self._root, ()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.to_fields_v1() == other.to_fields_v1()

    def __hash__(self) -> int:
        return hash(orjson.dumps(self.to_fields_v1()))

    def __repr__(self) -> str:
        return f"FieldSet({orjson.dumps(self.to_fields_v1()).decode()})"
