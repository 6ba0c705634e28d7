"""Cleaning values a strategic merge patch introduces: they are stored as-is, so directive
keys (`$patch`, `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`) and
null members must not survive into the result. Upstream can leave them in, because its
result is decoded into a typed Go struct that drops unknown keys and nulls.
"""

from __future__ import annotations

from typing import Any

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder"
DELETE_PRIMITIVES = "$deleteFromPrimitiveList"


def put(target: dict[str, Any], name: str, value: Any) -> None:
    """Set a value the live object does not have (or has with another type), cleaned."""
    if isinstance(value, dict):
        directive = value.get(DIRECTIVE)
        if directive is not None and directive not in ("replace", "merge"):
            target.pop(name, None)  # `$patch: delete` of something absent: nothing to keep
            return
        target[name] = clean_map(value)
    elif isinstance(value, list):
        target[name] = clean_list(value)
    else:
        target[name] = value


def clean_map(value: dict[str, Any]) -> dict[str, Any]:
    """Drop nulls and directive keys, recursively (in place): they are not data."""
    for k in list(value):
        v = value[k]
        if v is None or k in (DIRECTIVE, RETAIN_KEYS) or k.startswith((SET_ORDER, DELETE_PRIMITIVES)):
            del value[k]
        elif isinstance(v, dict):
            if v.get(DIRECTIVE, "replace") in ("replace", "merge"):
                value[k] = clean_map(v)
            else:
                del value[k]
        elif isinstance(v, list):
            value[k] = clean_list(v)
    return value


def clean_list(value: list[Any]) -> list[Any]:
    """Drop directive items (`{"$patch": ...}`) and clean the rest."""
    out: list[Any] = []
    for v in value:
        if isinstance(v, dict):
            if DIRECTIVE not in v:
                out.append(clean_map(v))
        elif isinstance(v, list):
            out.append(clean_list(v))
        else:
            out.append(v)
    return out
