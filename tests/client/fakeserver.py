"""An in-process fake Kubernetes API server with real list/watch semantics, for client tests.

Not the real apiserver (that lives in tugboat/apiserver and is tested there): just enough of
the protocol, done faithfully, to test reflectors and friends: a global resourceVersion,
MVCC history (paged lists are consistent snapshots), compaction (410 Expired for too-old
watches, lists and continue tokens), watch replay from any retained RV, bookmarks, label and
field selectors, optimistic concurrency, and hooks to inject failures and drop watches.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import orjson
from aiohttp import web

from tugboat.api import discovery, errors
from tugboat.api.patch import json_patch, merge_patch
from tugboat.api.scheme import ResourceType, Scheme, default_scheme
from tugboat.api.selectors import parse_field_selector, parse_label_selector

Key = tuple[str, str, str]  # (resource, namespace, name)


def rt_of(group: str, version: str, kind: str) -> ResourceType:
    """A built-in ResourceType, typed non-optional for the tests."""
    rt = default_scheme().by_kind(group, version, kind)
    assert rt is not None
    return rt


def _status(e: errors.ApiError) -> web.Response:
    return web.Response(status=e.code, body=orjson.dumps(e.to_status()), content_type="application/json",
                        headers=e.headers)


class FakeApiServer:
    def __init__(self, scheme: Scheme | None = None, bookmark_interval: float | None = None):
        self.scheme = scheme or default_scheme()
        self.rv = 100
        self.compacted = 0
        self.history: dict[Key, list[tuple[int, bytes | None]]] = {}
        self.log: list[tuple[int, str, Key, bytes]] = []
        self.watchers: list[tuple[web.Request, asyncio.Queue[tuple[int, str, Key, bytes]]]] = []
        self.bookmark_interval = bookmark_interval
        self.failures: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    # -- test hooks ---------------------------------------------------------------------------

    def fail(self, method: str, status: int, times: int = 1, path_contains: str = "",
             headers: dict[str, str] | None = None, watch: bool | None = None, query_has: str = "") -> None:
        self.failures.append({"method": method, "status": status, "times": times, "path": path_contains,
                              "headers": headers or {}, "watch": watch, "query": query_has})

    def compact(self) -> None:
        """Forget all history before now (like etcd compaction)."""
        self.compacted = self.rv
        for key in list(self.history):
            last = self.history[key][-1]
            if last[1] is None:
                del self.history[key]
            else:
                self.history[key] = [last]
        self.log = []

    def drop_watches(self) -> int:
        n = 0
        for req, _ in list(self.watchers):
            if req.transport is not None:
                req.transport.abort()
                n += 1
        return n

    def objects(self, resource: str) -> list[dict[str, Any]]:
        return [orjson.loads(h[-1][1]) for k, h in self.history.items() if k[0] == resource and h[-1][1]]

    # -- storage ------------------------------------------------------------------------------

    def _current(self, key: Key) -> dict[str, Any] | None:
        h = self.history.get(key)
        return orjson.loads(h[-1][1]) if h and h[-1][1] else None

    def write(self, typ: str, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        data = orjson.dumps(obj)
        self.history.setdefault(key, []).append((self.rv, None if typ == "DELETED" else data))
        entry = (self.rv, typ, key, data)
        self.log.append(entry)
        for _, q in self.watchers:
            q.put_nowait(entry)
        return obj

    def _snapshot(self, resource: str, ns: str | None, at: int) -> list[tuple[Key, bytes]]:
        out = []
        for key, h in self.history.items():
            if key[0] != resource or (ns and key[1] != ns):
                continue
            data = None
            for rv, d in h:
                if rv <= at:
                    data = d
            if data is not None:
                out.append((key, data))
        out.sort(key=lambda kd: (kd[0][1], kd[0][2]))
        return out

    # -- HTTP ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def _resolve(self, parts: list[str]) -> tuple[ResourceType, str | None, str | None, str | None]:
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        rt = self.scheme.get(group, version, rest[0])
        if rt is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt, ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        q = dict(request.query)
        self.requests.append((request.method, request.path, q))
        watch = q.get("watch") in ("true", "1")
        for f in self.failures:
            if (f["times"] > 0 and f["method"] == request.method and f["path"] in request.path
                    and (f["watch"] is None or f["watch"] == watch) and (not f["query"] or f["query"] in q)):
                f["times"] -= 1
                reason = {410: "Expired", 429: "TooManyRequests"}.get(f["status"], "InternalError")
                e = errors.ApiError(f["status"], reason, "injected failure", headers=f["headers"])
                return _status(e)
        parts = [p for p in request.path.split("/") if p]
        try:
            if request.path in ("/api", "/apis"):
                version = discovery.negotiate(request.headers.get("Accept"))
                doc = discovery.aggregated(self.scheme, request.path == "/api", version or "v2")
                return web.Response(body=orjson.dumps(doc), headers={"Content-Type": discovery.content_type("v2")})
            rt, ns, name, sub = self._resolve(parts)
            if request.method == "GET" and name is None:
                if watch:
                    return await self._watch(request, rt, ns, q)
                return self._list(rt, ns, q)
            if request.method == "POST" and name is None:
                return self._json(201, self._create(rt, ns, orjson.loads(await request.read())))
            if name is None:
                raise errors.method_not_allowed("method not allowed")
            key = (rt.plural, ns or "", name)
            if request.method == "GET":
                return self._json(200, self._get(rt, key))
            if request.method == "PUT":
                return self._json(200, self._update(rt, key, orjson.loads(await request.read())))
            if request.method == "PATCH":
                return self._json(200, self._patch(rt, key, request.content_type, await request.read()))
            if request.method == "DELETE":
                return self._json(200, self._delete(rt, key, orjson.loads(await request.read() or b"{}")))
            raise errors.method_not_allowed("method not allowed")
        except errors.ApiError as e:
            return _status(e)

    @staticmethod
    def _json(code: int, obj: Any) -> web.Response:
        return web.Response(status=code, body=orjson.dumps(obj), content_type="application/json")

    def _get(self, rt: ResourceType, key: Key) -> dict[str, Any]:
        obj = self._current(key)
        if obj is None:
            raise errors.not_found(rt.group, rt.plural, key[2])
        return obj

    def _create(self, rt: ResourceType, ns: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        md = obj.setdefault("metadata", {})
        if rt.namespaced:
            md["namespace"] = ns
        key = (rt.plural, ns or "", md["name"])
        if self._current(key) is not None:
            raise errors.already_exists(rt.group, rt.plural, md["name"])
        md["uid"] = str(uuid.uuid4())
        md.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        return self.write("ADDED", key, obj)

    def _update(self, rt: ResourceType, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        cur = self._get(rt, key)
        want = (obj.get("metadata") or {}).get("resourceVersion")
        if want and want != cur["metadata"]["resourceVersion"]:
            raise errors.stale_conflict(rt.group, rt.plural, key[2])
        obj["metadata"]["uid"] = cur["metadata"]["uid"]
        obj["metadata"]["namespace"] = cur["metadata"].get("namespace")
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        return self.write("MODIFIED", key, obj)

    def _patch(self, rt: ResourceType, key: Key, ctype: str, body: bytes) -> dict[str, Any]:
        cur = self._get(rt, key)
        patch = orjson.loads(body)
        new = json_patch(cur, patch) if ctype == "application/json-patch+json" else merge_patch(cur, patch)
        new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        return self.write("MODIFIED", key, new)

    def _delete(self, rt: ResourceType, key: Key, opts: dict[str, Any]) -> dict[str, Any]:
        cur = self._get(rt, key)
        pre = opts.get("preconditions") or {}
        if pre.get("resourceVersion") and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.plural, key[2], "Precondition failed")
        return self.write("DELETED", key, cur)

    def _filters(self, q: dict[str, str]) -> Any:
        ls, fs = parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector"))

        def match(obj: dict[str, Any]) -> bool:
            md = obj.get("metadata") or {}
            return ls.matches(md.get("labels")) and fs.matches(
                {"metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", "")})
        return match

    def _list(self, rt: ResourceType, ns: str | None, q: dict[str, str]) -> web.Response:
        match = self._filters(q)
        limit = int(q.get("limit") or 0)
        rv_param = q.get("resourceVersion", "")
        at, start = self.rv, ""
        if q.get("continue"):
            tok = orjson.loads(base64.b64decode(q["continue"]))
            at, start = tok["rv"], tok["start"]
            if at < self.compacted:
                raise errors.gone("The provided continue parameter is too old to display a consistent list result.")
        elif rv_param not in ("", "0"):
            want = int(rv_param)
            if want > self.rv:
                e = errors.ApiError(504, "Timeout", f"Too large resource version: {want}, current: {self.rv}",
                                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                                 "message": "Too large resource version"}]})
                raise e
            if limit and q.get("resourceVersionMatch") != "NotOlderThan":  # Exact: a historical snapshot
                if want < self.compacted:
                    raise errors.gone(f"too old resource version: {want} ({self.compacted})")
                at = want
        items: list[dict[str, Any]] = []
        cont = ""
        for key, data in self._snapshot(rt.plural, ns, at):
            if start and f"{key[1]}/{key[2]}" <= start:
                continue
            obj = orjson.loads(data)
            if not match(obj):
                continue
            if limit and len(items) == limit:
                last = items[-1]["metadata"]
                cont = base64.b64encode(orjson.dumps(
                    {"rv": at, "start": f"{last.get('namespace', '')}/{last['name']}"})).decode()
                break
            items.append(obj)
        meta: dict[str, Any] = {"resourceVersion": str(at)}
        if cont:
            meta["continue"] = cont
        return self._json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta,
                                "items": items})

    async def _watch(self, request: web.Request, rt: ResourceType, ns: str | None,
                     q: dict[str, str]) -> web.StreamResponse:
        match = self._filters(q)
        rv_param = q.get("resourceVersion", "")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)

        async def send(typ: str, obj: Any) -> None:
            await resp.write(orjson.dumps({"type": typ, "object": obj}) + b"\n")

        queue: asyncio.Queue[tuple[int, str, Key, bytes]] = asyncio.Queue()
        entry = (request, queue)
        self.watchers.append(entry)
        try:
            if rv_param in ("", "0"):
                since = self.rv
                for _, data in self._snapshot(rt.plural, ns, since):
                    obj = orjson.loads(data)
                    if match(obj):
                        await send("ADDED", obj)
            else:
                since = int(rv_param)
                if since < self.compacted:
                    await send("ERROR", errors.gone(f"too old resource version: {since} ({self.compacted})")
                               .to_status())
                    return resp
                for e in list(self.log):
                    queue.put_nowait(e)
            loop = asyncio.get_running_loop()
            end = loop.time() + float(q.get("timeoutSeconds") or 1800)
            bookmarks = q.get("allowWatchBookmarks") == "true" and self.bookmark_interval
            while True:
                left = end - loop.time()
                if left <= 0:
                    break
                wait = min(left, self.bookmark_interval) if bookmarks and self.bookmark_interval else left
                try:
                    rv, typ, key, data = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if bookmarks:
                        await send("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version,
                                                "metadata": {"resourceVersion": str(self.rv)}})
                    continue
                if rv <= since or key[0] != rt.plural or (ns and key[1] != ns):
                    continue
                obj = orjson.loads(data)
                if match(obj):
                    await send(typ, obj)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(entry)
        return resp
