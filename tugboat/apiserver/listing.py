"""LIST: selectors, limit/continue pagination from one snapshot, resourceVersion semantics.

Items stay as stored bytes unless a selector, a conversion or a Table needs the dict, so a
plain LIST of 10 000 pods is a byte join (see codec.with_rv).
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType
from tugboat.store.backend import CompactedError, FutureRevisionError, KeyValue

from . import codec, compat
from .registry import Registry

Obj = dict[str, Any]

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
    "the results. Continuing with the provided token results in an inconsistent list - objects that were "
    "created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
)
_NAME_SEL = re.compile(r"^\s*metadata\.name\s*==?\s*([^,\s]*)\s*$")


@dataclass(slots=True)
class ListOpts:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_: str = ""
    resource_version: str = ""
    rv_match: str = ""

    @classmethod
    def from_query(cls, q: Any) -> ListOpts:
        lim = q.get("limit", "") or "0"
        try:
            limit = max(0, int(lim))
        except ValueError:
            raise errors.bad_request(f"invalid limit: {lim!r}") from None
        return cls(q.get("labelSelector", ""), q.get("fieldSelector", ""), limit, q.get("continue", ""),
                   q.get("resourceVersion", ""), q.get("resourceVersionMatch", ""))


@dataclass(slots=True)
class Item:
    kv: KeyValue
    obj: Obj | None = None  # decoded (in the request's version) when something needed it


@dataclass(slots=True)
class ListResult:
    items: list[Item] = field(default_factory=list)
    revision: int = 0
    continue_: str = ""
    remaining: int | None = None


def encode_continue(rv: int, start: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")  # upstream: RawURLEncoding


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded)
        d = orjson.loads(raw)
        rv, start = int(d["rv"]), str(d["start"])
        if d.get("v") != "meta.k8s.io/v1" or rv <= 0 or ".." in start.split("/") or start.startswith("/"):
            raise ValueError
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)") from None
    return rv, prefix + start.rstrip("\x00")


def _parse_rv(v: str) -> int:
    try:
        n = int(v)
        if n < 0:
            raise ValueError
        return n
    except ValueError:
        raise errors.bad_request(f"Invalid value: {v!r}: resourceVersion must be an unsigned integer") from None


async def wait_for_rv(reg: Registry, rv: int) -> None:
    """NotOlderThan a future RV: wait briefly for it, then 504 as upstream."""
    for _ in range(30):
        if await reg.backend.current_revision() >= rv:
            return
        await asyncio.sleep(0.1)
    cur = await reg.backend.current_revision()
    raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {cur}",
                   {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1})


async def list_objects(reg: Registry, rt: ResourceType, ns: str, o: ListOpts, *, need_objects: bool) -> ListResult:
    if o.rv_match and not o.resource_version:
        raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if o.rv_match and o.rv_match not in ("Exact", "NotOlderThan"):
        raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{o.rv_match}": supported values: '
                                 '"Exact", "NotOlderThan"')
    if o.continue_ and o.resource_version and o.resource_version != "0":
        raise errors.bad_request("specifying resource version is not allowed when using continue")
    if o.rv_match == "Exact" and o.resource_version == "0":
        raise errors.bad_request('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    prefix = rt.namespace_prefix(ns or None)
    revision = 0
    start_after = ""
    if o.continue_:
        revision, start_after = decode_continue(o.continue_, prefix)
    elif o.resource_version and o.resource_version != "0":
        rv = _parse_rv(o.resource_version)
        if o.rv_match == "Exact":
            revision = rv
        else:
            await wait_for_rv(reg, rv)
    label = compat.label_matcher(o.label_selector)
    fieldm = None
    name_only = _NAME_SEL.match(o.field_selector) if o.field_selector else None
    if o.field_selector and not name_only:
        fieldm = compat.field_matcher(o.field_selector)
    convert = reg.storage_type(rt) is not rt
    decode = need_objects or convert or label is not None or fieldm is not None
    strat = reg.strategy(rt)
    try:
        if name_only is not None:
            return await _by_name(reg, rt, ns, name_only.group(1), revision, label, decode)
        out = ListResult()
        batch = o.limit if (o.limit and label is None and fieldm is None) else (max(o.limit, 500) if o.limit else 0)
        while True:
            want = batch if not o.limit or batch != o.limit else o.limit - len(out.items)
            res = await reg.backend.list(prefix, start_after=start_after, limit=want, revision=revision)
            revision = res.revision
            for idx, kv in enumerate(res.items):
                it = Item(kv)
                if decode:
                    obj = reg.to_version(rt, codec.decode(kv.value, kv.mod_revision))
                    if label is not None and not label((obj.get("metadata") or {}).get("labels") or {}):
                        continue
                    if fieldm is not None and not fieldm(strat.field_values(obj)):
                        continue
                    it.obj = obj
                out.items.append(it)
                if o.limit and len(out.items) >= o.limit:
                    more = idx < len(res.items) - 1 or res.more
                    if more:
                        out.continue_ = encode_continue(revision, kv.key[len(prefix):] + "\x00")
                        if label is None and fieldm is None:
                            out.remaining = (len(res.items) - 1 - idx) + res.remaining
                    out.revision = revision
                    return out
            if not res.more or not res.items:
                out.revision = revision
                return out
            start_after = res.items[-1].key
    except CompactedError:
        if o.continue_:
            raise errors.gone(CONTINUE_EXPIRED) from None
        raise errors.gone(f"too old resource version: {revision} ({await reg.backend.compacted_revision()})") from None
    except FutureRevisionError as e:
        raise ApiError(504, "Timeout", f"Too large resource version: {e.requested}, current: {e.current}") from None


async def _by_name(reg: Registry, rt: ResourceType, ns: str, name: str, revision: int,
                   label: Any, decode: bool) -> ListResult:
    out = ListResult()
    rev = revision or await reg.backend.current_revision()
    keys = [reg.key(rt, ns, name)] if (ns or not rt.namespaced) else []
    if keys:
        kv = await reg.backend.get(keys[0], revision)
        kvs = [kv] if kv else []
    else:  # all namespaces: scan, comparing the name part of the key only
        res = await reg.backend.list(rt.key_prefix, revision=revision)
        rev = res.revision
        kvs = [kv for kv in res.items if kv.key.rsplit("/", 1)[-1] == name]
    for kv in kvs:
        it = Item(kv)
        if decode:
            obj = reg.to_version(rt, codec.decode(kv.value, kv.mod_revision))
            if label is not None and not label((obj.get("metadata") or {}).get("labels") or {}):
                continue
            it.obj = obj
        out.items.append(it)
    out.revision = rev
    return out
