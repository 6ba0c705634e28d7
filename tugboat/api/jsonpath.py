"""The Kubernetes JSONPath dialect (k8s.io/client-go/util/jsonpath), evaluated over plain dicts.

CRD `additionalPrinterColumns` carry paths like `.spec.cronSpec` or
`.status.conditions[?(@.type=="Ready")].status`; the API server evaluates them for every row
of a Table. Kubernetes' dialect differs from other JSONPaths in ways users notice: `.field` on
a list does not flatten (use `[*]`), missing keys yield no result rather than an error when
missing keys are allowed (as printer columns do), and text output prints maps and lists as
compact JSON. We implement the subset those users rely on: fields, `..` recursive descent,
`*`, indexes (negative too), slices `[a:b:c]`, unions `[0,2]`/`['a','b']`, quoted keys
`['a.b']` and filters `[?(@.x == "y")]` with ==, !=, <, <=, >, >= or bare existence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

_TERMINATORS = set(" \t\n\r.,[]$@{}()=<>!'\"")


class JSONPathError(ValueError):
    pass


@dataclass(slots=True)
class _Step:
    kind: str  # field, recursive, wildcard, index, slice, union, filter
    name: str = ""
    index: int = 0
    slice: tuple[int | None, int | None, int | None] = (None, None, None)
    keys: list[Any] = field(default_factory=list)
    filt: tuple[list[_Step], str, Any] | None = None  # (left path, op, right literal or path)


def parse(expr: str) -> list[_Step]:
    """Parse one path (braces and a leading `$`/`@` are optional)."""
    s = expr.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1].strip()
    steps, pos = _parse_path(s, 0)
    if pos != len(s):
        raise JSONPathError(f"unrecognized character in action: {s[pos:]!r}")
    return steps


def _parse_path(s: str, i: int, stop: str = "") -> tuple[list[_Step], int]:
    steps: list[_Step] = []
    if i < len(s) and s[i] in "$@":
        i += 1
    while i < len(s) and s[i] not in stop:
        c = s[i]
        if s.startswith("..", i):
            i += 2
            name, i = _read_name(s, i)
            steps.append(_Step("recursive", name=name))
        elif c == ".":
            i += 1
            if i < len(s) and s[i] == "*":
                steps.append(_Step("wildcard"))
                i += 1
            else:
                name, i = _read_name(s, i)
                if name:
                    steps.append(_Step("field", name=name))
        elif c == "[":
            step, i = _parse_bracket(s, i + 1)
            steps.append(step)
        elif c in " \t":
            i += 1
        else:
            break
    return steps, i


def _read_name(s: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(s) and (s[j] not in _TERMINATORS or s[j] == "\\"):
        j += 2 if s[j] == "\\" else 1
    return s[i:j].replace("\\", ""), j


def _parse_bracket(s: str, i: int) -> tuple[_Step, int]:
    end = _matching(s, i - 1)
    body = s[i:end].strip()
    nxt = end + 1
    if body == "*":
        return _Step("wildcard"), nxt
    if body.startswith("?(") and body.endswith(")"):
        return _Step("filter", filt=_parse_filter(body[2:-1].strip())), nxt
    parts = _split_top(body, ",")
    if len(parts) == 1 and ":" in body and body[0] not in "'\"":
        nums = [p.strip() for p in body.split(":")]
        if len(nums) > 3:
            raise JSONPathError(f"invalid array slice {body!r}")
        vals = [int(n) if n else None for n in nums] + [None] * (3 - len(nums))
        return _Step("slice", slice=(vals[0], vals[1], vals[2])), nxt
    keys: list[Any] = []
    for p in parts:
        p = p.strip()
        if len(p) >= 2 and p[0] in "'\"" and p[-1] == p[0]:
            keys.append(p[1:-1])
        else:
            try:
                keys.append(int(p))
            except ValueError:
                raise JSONPathError(f"invalid array index {p!r}") from None
    if len(keys) == 1:
        k = keys[0]
        return (_Step("field", name=k) if isinstance(k, str) else _Step("index", index=k)), nxt
    return _Step("union", keys=keys), nxt


def _matching(s: str, open_at: int) -> int:
    depth, quote = 0, ""
    for j in range(open_at, len(s)):
        c = s[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise JSONPathError("unclosed array expect ]")


def _split_top(s: str, sep: str) -> list[str]:
    out, quote, start = [], "", 0
    for j, c in enumerate(s):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == sep:
            out.append(s[start:j])
            start = j + 1
    out.append(s[start:])
    return out


_FILTER_OPS = ("==", "!=", "<=", ">=", "<", ">")


def _parse_filter(body: str) -> tuple[list[_Step], str, Any]:
    left, i = _parse_path(body, 0, stop="=!<>")
    rest = body[i:].strip()
    if not rest:
        return left, "exists", None
    op = next((o for o in _FILTER_OPS if rest.startswith(o)), None)
    if op is None:
        raise JSONPathError(f"unrecognized filter operator in {body!r}")
    rhs = rest[len(op):].strip()
    if rhs[:1] in "@$":
        right: Any = ("path", parse(rhs))
    elif len(rhs) >= 2 and rhs[0] in "'\"" and rhs[-1] == rhs[0]:
        right = rhs[1:-1]
    elif rhs in ("true", "false"):
        right = rhs == "true"
    else:
        try:
            right = int(rhs)
        except ValueError:
            try:
                right = float(rhs)
            except ValueError:
                raise JSONPathError(f"unrecognized filter value {rhs!r}") from None
    return left, op, right


def _apply(step: _Step, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        k = step.kind
        if k == "field":
            if isinstance(v, dict) and step.name in v:
                out.append(v[step.name])
        elif k == "wildcard":
            if isinstance(v, dict):
                out.extend(v[key] for key in sorted(v))
            elif isinstance(v, list):
                out.extend(v)
        elif k == "index":
            if isinstance(v, list) and -len(v) <= step.index < len(v):
                out.append(v[step.index])
        elif k == "slice":
            if isinstance(v, list):
                a, b, c = step.slice
                out.extend(v[slice(a, b, c)])
        elif k == "union":
            for key in step.keys:
                if isinstance(key, int) and isinstance(v, list) and -len(v) <= key < len(v):
                    out.append(v[key])
                elif isinstance(key, str) and isinstance(v, dict) and key in v:
                    out.append(v[key])
        elif k == "recursive":
            out.extend(_descend(v, step.name))
        elif k == "filter" and step.filt is not None:
            items = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else []
            out.extend(it for it in items if _filter_ok(it, step.filt))
    return out


def _descend(v: Any, name: str) -> list[Any]:
    out: list[Any] = []
    if isinstance(v, dict):
        if not name:
            out.append(v)
        elif name in v:
            out.append(v[name])
        for key in sorted(v):
            out.extend(_descend(v[key], name))
    elif isinstance(v, list):
        if not name:
            out.append(v)
        for item in v:
            out.extend(_descend(item, name))
    return out


def _run(steps: list[_Step], root: Any) -> list[Any]:
    vals = [root]
    for st in steps:
        vals = _apply(st, vals)
    return vals


def _filter_ok(item: Any, filt: tuple[list[_Step], str, Any]) -> bool:
    left_path, op, right = filt
    lefts = _run(left_path, item)
    if op == "exists":
        return bool(lefts)
    if not lefts:
        return False
    rights = _run(right[1], item) if isinstance(right, tuple) else [right]
    if not rights:
        return False
    a, b = lefts[0], rights[0]
    numeric = isinstance(a, int | float) and isinstance(b, int | float) and \
        not isinstance(a, bool) and not isinstance(b, bool)
    if op == "==":
        return a == b and (numeric or type(a) is type(b))
    if op == "!=":
        return not (a == b and (numeric or type(a) is type(b)))
    if not (numeric or (isinstance(a, str) and isinstance(b, str))):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def evaluate(obj: Any, expr: str) -> list[Any]:
    """All values `expr` selects in `obj` (missing keys select nothing)."""
    return _run(parse(expr), obj)


def to_text(value: Any) -> str:
    """How kubectl/the API server print one result: strings bare, numbers and booleans like Go's
    fmt.Print, maps and lists as compact JSON with sorted keys, null as `null`."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)
