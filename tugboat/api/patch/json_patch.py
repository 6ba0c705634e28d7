"""RFC 6902 JSON patch (`application/json-patch+json`), with the apiserver's limits.

Upstream (`handlers/patch.go` + evanphx/json-patch v4) answers:
- a body that is not a list of objects → 400 BadRequest with Go's decode error;
- more than 10 000 operations → 413 RequestEntityTooLarge, checked before anything is applied
  (the CVE-2019-1002100 fix);
- any failure while applying (unknown op, missing path, failed test, copy over the 3 MiB
  `JSONPatchMaxCopyBytes` budget) → 422 Invalid with a generic message. The specific reason
  is chained on the error (`__cause__`) for our logs, as upstream keeps it server-side too.

Pointers follow RFC 6901 strictly (`~1`, `~0`, `-` to append, no negative or zero-padded
indices); the empty path addresses the whole document.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from tugboat.api.errors import bad_request, too_large
from tugboat.api.patch._util import deep_copy, guard_depth, invalid, json_kind, same

MAX_OPERATIONS = 10_000
MAX_COPY_BYTES = 3 * 1024 * 1024  # JSONPatchMaxCopyBytes == MaxRequestBodyBytes

_INDEX = re.compile(r"0|[1-9][0-9]*")


@guard_depth
def json_patch(doc: Any, ops: Any) -> Any:
    """Apply the RFC 6902 operations `ops` to a copy of `doc` and return the copy."""
    if ops is None:  # Go decodes `null` as an empty patch
        return deep_copy(doc)
    if not isinstance(ops, list):
        raise bad_request(f"json: cannot unmarshal {json_kind(ops)} into Go value of type jsonpatch.Patch")
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise bad_request(f"json: cannot unmarshal {json_kind(op)} into Go value of type jsonpatch.Operation")
    if len(ops) > MAX_OPERATIONS:
        raise too_large(f"Request entity too large: The allowed maximum operations in a JSON patch is "
                        f"{MAX_OPERATIONS}, got {len(ops)}")
    result = deep_copy(doc)
    budget = [0]
    for op in ops:
        result = _apply_one(result, op or {}, budget)
    return result


def _apply_one(doc: Any, op: dict[str, Any], copied: list[int]) -> Any:
    kind = op.get("op")
    if not isinstance(kind, str):
        kind = "unknown"
    if kind not in _OPS:
        raise invalid(f"Unexpected kind: {kind}")
    path = _pointer(op, "path", kind)
    if kind == "add":
        return _add(doc, path, _value(op, kind))
    if kind == "remove":
        return _remove(doc, path, kind)
    if kind == "replace":
        _get(doc, path, kind)  # the target must exist
        if not path:
            return _value(op, kind)
        return _set(doc, path, _value(op, kind))
    if kind == "test":
        if not same(_get(doc, path, kind), _value(op, kind, copy=False)):
            raise invalid(f"testing value {op.get('path')} failed: test failed")
        return doc
    src = _pointer(op, "from", kind)
    value = _get(doc, src, kind)
    if kind == "move":
        if path[: len(src)] == src and len(path) > len(src):
            raise invalid(f"move operation does not apply: cannot move {op.get('from')} into its own child")
        if path == src:
            return doc
        doc = _remove(doc, src, kind)
        return _add(doc, path, value)
    size = len(orjson.dumps(value))  # copy: count the bytes it adds, like upstream
    copied[0] += size
    if copied[0] > MAX_COPY_BYTES:
        raise invalid("Unable to complete the copy, the accumulated size increase of copy is "
                      f"{copied[0]}, exceeding the limit {MAX_COPY_BYTES}")
    return _add(doc, path, deep_copy(value))


_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def _value(op: dict[str, Any], kind: str, copy: bool = True) -> Any:
    if "value" not in op:
        raise invalid(f"{kind} operation, missing value field")
    return deep_copy(op["value"]) if copy else op["value"]


def _pointer(op: dict[str, Any], field: str, kind: str) -> list[str]:
    raw = op.get(field)
    if not isinstance(raw, str):
        raise invalid(f"{kind} operation failed to decode {field}: missing {field} field")
    if raw == "":
        return []
    if not raw.startswith("/"):
        raise invalid(f"{kind} operation does not apply: invalid JSON pointer {raw!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in raw[1:].split("/")]


def _index(token: str, length: int, *, end_ok: bool) -> int:
    if token == "-" and end_ok:
        return length
    if not _INDEX.fullmatch(token):
        raise invalid(f"value was not a proper array index: '{token}'")
    i = int(token)
    if i > length or (i == length and not end_ok):
        raise invalid(f"Unable to access invalid index: {i}")
    return i


def _parent(doc: Any, path: list[str], kind: str) -> Any:
    cur = doc
    for token in path[:-1]:
        if isinstance(cur, dict) and token in cur:
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(token, len(cur), end_ok=False)]
        else:
            raise invalid(f"{kind} operation does not apply: doc is missing path: {_show(path)}")
    if not isinstance(cur, dict | list):
        raise invalid(f"{kind} operation does not apply: doc is missing path: {_show(path)}")
    return cur


def _get(doc: Any, path: list[str], kind: str) -> Any:
    if not path:
        return doc
    parent, last = _parent(doc, path, kind), path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise invalid(f"{kind} operation does not apply: doc is missing key: {_show(path)}")
        return parent[last]
    return parent[_index(last, len(parent), end_ok=False)]


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _parent(doc, path, "add"), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent.insert(_index(last, len(parent), end_ok=True), value)
    return doc


def _set(doc: Any, path: list[str], value: Any) -> Any:
    parent, last = _parent(doc, path, "replace"), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        parent[_index(last, len(parent), end_ok=False)] = value
    return doc


def _remove(doc: Any, path: list[str], kind: str) -> Any:
    if not path:
        raise invalid(f"{kind} operation does not apply: cannot remove the whole document")
    parent, last = _parent(doc, path, kind), path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise invalid(f"Unable to remove nonexistent key: {last}: missing value")
        del parent[last]
    else:
        del parent[_index(last, len(parent), end_ok=False)]
    return doc


def _show(path: list[str]) -> str:
    return "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in path)
