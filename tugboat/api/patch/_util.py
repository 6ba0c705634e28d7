"""Shared helpers for the patch functions: copying, Go-style formatting, upstream errors.

Why Go formatting: upstream's strategic-merge-patch errors that are not mapped to a known
status reach the client verbatim (`unknown patch type: foo in map: map[a:b]`), formatted by
Go's `%v`. Reproducing that format keeps our messages identical to a real apiserver's.

Why `_key`: upstream compares JSON values with Go's `==` on `interface{}`, which never equates
a bool with a number or an integer with a float; Python's `==` does (`True == 1`). Every list
membership/equality test in this package goes through `_key` to keep Go's semantics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import orjson

from tugboat.api.errors import ApiError, bad_request

P = ParamSpec("P")
R = TypeVar("R")

# Upstream's generic message for a 422 built by NewGenericServerResponse (jsonpatch apply
# failures, lists of lists, retainKeys mismatches): the specific reason is not sent.
GENERIC_INVALID = "the server rejected our request due to an error in our request"
# What Go's JSON decoder says about input nested more than 10000 levels deep.
TOO_DEEP = "exceeded max depth"


class PatchFailure(Exception):
    """The specific reason behind a generic upstream error; chained as `__cause__` for logs."""


def invalid(detail: str) -> ApiError:
    """422 Invalid with upstream's generic message; `detail` rides along as the cause."""
    err = ApiError(422, "Invalid", GENERIC_INVALID)
    err.__cause__ = PatchFailure(detail)
    return err


def internal(message: str) -> ApiError:
    """A plain Go error that upstream's handler did not translate: 500, reason Unknown ("")."""
    return ApiError(500, "", message)


def deep_copy(value: Any) -> Any:
    """An independent copy of a JSON value (orjson round-trip; fast, and never shares lists)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except orjson.JSONEncodeError as e:
        if "Recursion" in str(e) or "recursion" in str(e):
            raise bad_request(TOO_DEEP) from e
        raise bad_request(f"invalid JSON value: {e}") from e


def guard_depth(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a RecursionError (absurdly nested input) into 400 instead of a crash or a 500."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RecursionError as e:
            raise bad_request(TOO_DEEP) from e

    return wrapper


def key(value: Any) -> Any:
    """A hashable stand-in for a JSON value with Go `==` semantics (type-strict)."""
    if value is None:
        return ("n", None)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, float):
        return ("f", value)
    if isinstance(value, str):
        return ("s", value)
    return ("x", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def go_type(value: Any) -> str:
    """reflect.TypeOf(v).String() for a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def go_fmt(value: Any) -> str:
    """Go's `%v` of a decoded JSON value (maps print with sorted keys, like fmt does)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value).replace("e-0", "e-").replace("e+0", "e+")
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_fmt(v) for v in value) + "]"
    return str(value)


def json_kind(value: Any) -> str:
    """The JSON type name Go's decoder uses in `cannot unmarshal X into ...` messages."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def same(a: Any, b: Any) -> bool:
    """JSON equality with Go's type strictness (1 != 1.0 != true)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(b, dict | list):
        return False
    return bool(key(a) == key(b))
