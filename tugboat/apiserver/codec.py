"""Stored-object encoding: orjson bytes with a fixed top-level key order and no resourceVersion.

The resourceVersion is the store's mod_revision, so it is not stored; on the way out it is
spliced into the bytes right after `"metadata":{` — no decode/encode for GET or LIST of
plain JSON. This is safe because `encode` always writes apiVersion, kind, metadata first,
so the first `"metadata":{` is the top-level one.
"""

from __future__ import annotations

from typing import Any

import orjson

from tugboat.api.errors import bad_request

Obj = dict[str, Any]
_META = b'"metadata":{'


def encode(obj: Obj) -> bytes:
    """Bytes to store: top-level order apiVersion, kind, metadata, rest; RV removed."""
    meta = obj.get("metadata") or {}
    if "resourceVersion" in meta:
        meta = {k: v for k, v in meta.items() if k != "resourceVersion"}
    ordered: Obj = {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""), "metadata": meta}
    for k, v in obj.items():
        if k not in ordered:
            ordered[k] = v
    try:
        return orjson.dumps(ordered)
    except (TypeError, orjson.JSONEncodeError) as e:  # e.g. nesting beyond orjson's limit
        raise bad_request(f"the object could not be encoded: {e}") from None


def with_rv(value: bytes, rv: int) -> bytes:
    """The stored bytes with metadata.resourceVersion = rv."""
    i = value.find(_META)
    if i < 0:
        obj = orjson.loads(value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        return orjson.dumps(obj)
    j = i + len(_META)
    sep = b"" if value[j:j + 1] == b"}" else b","
    return b"%s\"resourceVersion\":\"%d\"%s%s" % (value[:j], rv, sep, value[j:])


def decode(value: bytes, rv: int) -> Obj:
    obj: Obj = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
    return obj


def copy(obj: Obj) -> Obj:
    return orjson.loads(orjson.dumps(obj))  # type: ignore[no-any-return]
