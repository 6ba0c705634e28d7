"""WATCH: chunked JSON lines, one per event, from the shared watch cache.

Start point (upstream semantics): resourceVersion "" or "0" → synthetic ADDED events for the
current state, then changes; "N" → changes after N only (410 ERROR event if N is compacted);
sendInitialEvents=true → initial ADDED events then a BOOKMARK annotated
`k8s.io/initial-events-end`. Per client: namespace/label/field filtering with selector
transitions (leaving the selector = DELETED, entering = ADDED), optional Table output,
bookmarks, and timeoutSeconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType
from tugboat.store.backend import CompactedError

from .. import codec, compat
from ..context import Ctx
from ..listing import ListOpts, list_objects
from ..negotiate import Output, negotiate
from ..request import Req, StreamResp
from ..watchcache import CachedEvent, DirectFeed, Watcher
from .output import table

Obj = dict[str, Any]
_TRUE = ("1", "true", "True", "TRUE", "t")


def _error_line(err: ApiError) -> bytes:
    return orjson.dumps({"type": "ERROR", "object": err.to_status()}) + b"\n"


class _Encoder:
    """Per-client event encoding (JSON line, converted version, or one-row Table)."""

    def __init__(self, ctx: Ctx, rt: ResourceType, req: Req, out: Output):
        self.ctx, self.rt, self.req, self.out = ctx, rt, req, out
        self.convert = ctx.registry.storage_type(rt) is not rt
        self.headers_sent = False

    def obj(self, o: Obj) -> Obj:
        return compat.convert(codec.copy(o), self.rt.api_version) if self.convert else o

    def line(self, etype: str, o: Obj, ev: CachedEvent | None = None) -> bytes:
        if self.out.kind == "table":
            t = table(self.ctx, self.rt, [o], self.req, self.out.version, no_headers=self.headers_sent)
            self.headers_sent = True
            return orjson.dumps({"type": etype, "object": t}) + b"\n"
        if self.out.kind == "meta":
            o = {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{self.out.version}",
                 "metadata": o.get("metadata") or {}}
            return orjson.dumps({"type": etype, "object": o}) + b"\n"
        if ev is not None:
            return ev.line(etype, self.rt.api_version, o)
        return orjson.dumps({"type": etype, "object": o}) + b"\n"

    def bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return orjson.dumps({"type": "BOOKMARK", "object": {"kind": self.rt.kind, "apiVersion": self.rt.api_version,
                                                            "metadata": meta}}) + b"\n"


async def watch(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str = "") -> StreamResp:
    out = negotiate(req.header("Accept"))
    q = req.query
    rv = q.get("resourceVersion", "")
    bookmarks = q.get("allowWatchBookmarks", "") in _TRUE
    sie_raw = q.get("sendInitialEvents", "")
    send_initial = sie_raw in _TRUE
    if sie_raw and (q.get("resourceVersionMatch") != "NotOlderThan"):
        raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
            "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")])
    if send_initial and not bookmarks:
        raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
            "allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true")])
    if not sie_raw and q.get("resourceVersionMatch"):
        raise errors.bad_request("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    try:
        timeout = float(q.get("timeoutSeconds") or 0)
    except ValueError:
        raise errors.bad_request("invalid timeoutSeconds") from None
    if timeout <= 0:
        t = ctx.config.watch_min_timeout
        timeout = t * (1 + random.random())
    fsel = q.get("fieldSelector", "")
    if name:
        fsel = f"metadata.name={name}" + ("," + fsel if fsel else "")
    label = compat.label_matcher(q.get("labelSelector", ""))
    fieldm = compat.field_matcher(fsel)
    strat = ctx.registry.strategy(rt)
    enc = _Encoder(ctx, rt, req, out)

    def matches(o: Obj | None) -> bool:
        if o is None:
            return False
        if label is not None and not label((o.get("metadata") or {}).get("labels") or {}):
            return False
        return fieldm is None or fieldm(strat.field_values(o))

    initial: list[bytes] = []
    initial_end: int | None = None
    if send_initial or (rv in ("", "0") and sie_raw == ""):
        res = await list_objects(ctx.registry, rt, ns, ListOpts(q.get("labelSelector", ""), fsel),
                                 need_objects=True)
        for it in res.items:
            assert it.obj is not None
            initial.append(enc.line("ADDED", it.obj))
        start = res.revision
        if send_initial:
            initial_end = start
    elif rv in ("", "0"):
        start = await ctx.backend.current_revision()
    else:
        try:
            start = int(rv)
        except ValueError:
            raise errors.bad_request(f"invalid resourceVersion: {rv!r}") from None
    prefix = rt.namespace_prefix(ns or None)
    match_fn = matches if (label is not None or fieldm is not None) else None
    node = _node_trigger(rt, fsel) if match_fn is not None else None
    return StreamResp(_stream(ctx, rt, prefix, start, initial, initial_end, bookmarks, timeout, enc, match_fn,
                              node))


def _node_trigger(rt: ResourceType, fsel: str) -> str | None:
    """The node of a pod watch that selects `spec.nodeName=<node>` (a node agent's, or the
    scheduler's `spec.nodeName=` for unassigned pods), else None."""
    if rt.group != "" or rt.plural != "pods":
        return None
    for term in fsel.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "spec.nodeName" and not key.endswith("!"):
            return value.strip()
    return None


async def _stream(ctx: Ctx, rt: ResourceType, prefix: str, start: int, initial: list[bytes],
                  initial_end: int | None, bookmarks: bool, timeout: float, enc: _Encoder,
                  matches: Callable[[Obj | None], bool] | None, node: str | None = None) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    w = Watcher(prefix, start, node)
    cacher = await ctx.watch.cacher(rt.key_prefix)
    feed: DirectFeed | None = None
    try:
        if not cacher.subscribe(w):
            compacted = await ctx.backend.compacted_revision()
            if start < compacted:
                yield _error_line(errors.gone(f"too old resource version: {start} ({compacted})"))
                return
            feed = DirectFeed(ctx.backend, rt.key_prefix, w)
        first = b"".join(initial)
        if initial_end is not None:
            first += enc.bookmark(initial_end, True)
        if first:
            yield first
        last_sent = start
        next_bookmark = loop.time() + ctx.config.bookmark_interval
        while True:
            now = loop.time()
            if now >= deadline:
                if bookmarks:
                    yield enc.bookmark(max(last_sent, cacher.last_rev if feed is None else last_sent))
                return
            if not w.queue and w.error is None and not w.closed:
                w.wake.clear()
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(w.wake.wait(), timeout=max(wait, 0.001))
            events = w.drain()
            if events:
                chunk = []
                for ev in events:
                    line = _event_line(ev, enc, matches)
                    if line:
                        chunk.append(line)
                    last_sent = ev.rev
                if chunk:
                    yield b"".join(chunk)
                continue
            if w.error is not None:
                err = w.error
                if isinstance(err, CompactedError):
                    yield _error_line(errors.gone(f"too old resource version: {err.requested} ({err.compacted})"))
                else:
                    yield _error_line(errors.internal(str(err)))
                return
            if w.closed:
                return
            if bookmarks and loop.time() >= next_bookmark:
                next_bookmark = loop.time() + ctx.config.bookmark_interval
                rev = max(last_sent, cacher.last_rev) if feed is None else last_sent
                last_sent = rev
                yield enc.bookmark(rev)
    finally:
        cacher.unsubscribe(w)
        if feed is not None:
            await feed.stop()


def _event_line(ev: CachedEvent, enc: _Encoder, matches: Callable[[Obj | None], bool] | None) -> bytes | None:
    if matches is None:
        return enc.line(ev.type, enc.obj(ev.obj), ev)
    cur = matches(ev.obj)
    if ev.type == "ADDED":
        return enc.line("ADDED", enc.obj(ev.obj), ev) if cur else None
    if ev.type == "DELETED":
        return enc.line("DELETED", enc.obj(ev.obj), ev) if cur else None
    prev = matches(ev.prev)
    if cur and prev:
        return enc.line("MODIFIED", enc.obj(ev.obj), ev)
    if cur:
        return enc.line("ADDED", enc.obj(ev.obj), ev)
    if prev:
        assert ev.prev is not None
        old = codec.copy(ev.prev)
        old["metadata"]["resourceVersion"] = str(ev.rev)
        return enc.line("DELETED", enc.obj(old))
    return None
