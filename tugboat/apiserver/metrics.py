"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics (what `kubectl top` reads), served in-process.

Upstream this group is an aggregated API served by metrics-server, which scrapes every
kubelet's `/stats/summary`. Here the API server does the scraping itself: on a request it
fetches the summaries of all nodes in parallel (through the same kubelet-client identity as
logs/exec, proxy.py) and keeps each for 15 s, so a burst of `kubectl top` calls costs one
scrape per node. Nothing is stored. Usage is reported as metrics-server does — CPU in
nanocores (`123456n`), memory working set in KiB (`2048Ki`) — with `window: 15s`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType
from tugboat.api.selectors import parse_label_selector
from tugboat.util.clock import rfc3339

from . import codec
from .context import Ctx
from .proxy import agent_base, node_proxy
from .request import Req, Resp, json_resp

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
TTL = 15.0
WINDOW = "15s"
SCRAPE_TIMEOUT = 5.0
EXTRA_KEY = "metrics_cache"


class SummaryCache:
    """Per-node Summary documents, fetched at most every TTL seconds."""

    def __init__(self, ttl: float = TTL):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._inflight: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    async def get(self, ctx: Ctx, node_name: str) -> dict[str, Any] | None:
        hit = self._entries.get(node_name)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        fut = self._inflight.get(node_name)
        if fut is None:
            fut = asyncio.ensure_future(_scrape(ctx, node_name))
            self._inflight[node_name] = fut
            try:
                result = await fut
            finally:
                self._inflight.pop(node_name, None)
            self._entries[node_name] = (time.monotonic(), result)
            return result
        return await asyncio.shield(fut)


async def _scrape(ctx: Ctx, node_name: str) -> dict[str, Any] | None:
    try:
        url = f"{await agent_base(ctx, node_name)}/stats/summary?only_cpu_and_memory=true"
        session = node_proxy(ctx).session()
    except ApiError:
        return None
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)) as resp:
            if resp.status != 200:
                return None
            doc = orjson.loads(await resp.read())
            return doc if isinstance(doc, dict) else None
    except (TimeoutError, aiohttp.ClientError, OSError, orjson.JSONDecodeError):
        return None
    finally:
        await session.close()


def _cache(ctx: Ctx) -> SummaryCache:
    c = ctx.extras.get(EXTRA_KEY)
    if c is None:
        c = ctx.extras[EXTRA_KEY] = SummaryCache()
    assert isinstance(c, SummaryCache)
    return c


async def _objects(ctx: Ctx, resource: str, ns: str = "") -> list[dict[str, Any]]:
    rt = ctx.scheme.get("", "v1", resource)
    assert rt is not None
    res = await ctx.backend.list(rt.namespace_prefix(ns) if ns and rt.namespaced else rt.key_prefix)
    return [codec.decode(kv.value, kv.mod_revision) for kv in res.items]


def _usage(cpu: dict[str, Any] | None, mem: dict[str, Any] | None) -> dict[str, str] | None:
    nano = (cpu or {}).get("usageNanoCores")
    ws = (mem or {}).get("workingSetBytes")
    if nano is None or ws is None:
        return None
    return {"cpu": f"{int(nano)}n", "memory": f"{int(ws) // 1024}Ki"}


def _meta(md: dict[str, Any], now: str, namespaced: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": md.get("name", ""), "creationTimestamp": now}
    if namespaced:
        out["namespace"] = md.get("namespace", "")
    if md.get("labels"):
        out["labels"] = md["labels"]
    return out


async def _summaries(ctx: Ctx, node_names: list[str]) -> dict[str, dict[str, Any]]:
    cache = _cache(ctx)
    sem = asyncio.Semaphore(32)

    async def one(n: str) -> dict[str, Any] | None:
        async with sem:
            return await cache.get(ctx, n)
    got = await asyncio.gather(*(one(n) for n in node_names))
    return {n: s for n, s in zip(node_names, got, strict=True) if s}


async def node_metrics(ctx: Ctx, names: list[str] | None, selector: str) -> list[dict[str, Any]]:
    sel = parse_label_selector(selector or None)
    nodes = [n for n in await _objects(ctx, "nodes") if sel.matches((n.get("metadata") or {}).get("labels") or {})]
    if names is not None:
        nodes = [n for n in nodes if n["metadata"]["name"] in names]
    sums = await _summaries(ctx, [n["metadata"]["name"] for n in nodes])
    now, items = rfc3339(time.time()), []
    for n in nodes:
        s = sums.get(n["metadata"]["name"])
        node = (s or {}).get("node") or {}
        usage = _usage(node.get("cpu"), node.get("memory"))
        if usage is not None:
            ts = (node.get("cpu") or {}).get("time") or now
            items.append({"metadata": _meta(n["metadata"], now, False), "timestamp": ts, "window": WINDOW,
                          "usage": usage})
    return items


async def pod_metrics(ctx: Ctx, ns: str, names: list[str] | None, selector: str) -> list[dict[str, Any]]:
    sel = parse_label_selector(selector or None)
    pods = [p for p in await _objects(ctx, "pods", ns)
            if sel.matches((p.get("metadata") or {}).get("labels") or {})
            and (p.get("spec") or {}).get("nodeName") and (p.get("status") or {}).get("phase") == "Running"]
    if names is not None:
        pods = [p for p in pods if p["metadata"]["name"] in names]
    sums = await _summaries(ctx, sorted({p["spec"]["nodeName"] for p in pods}))
    by_uid: dict[str, dict[str, Any]] = {}
    for s in sums.values():
        for ps in s.get("pods") or []:
            by_uid[(ps.get("podRef") or {}).get("uid", "")] = ps
    now, items = rfc3339(time.time()), []
    for p in pods:
        ps = by_uid.get(p["metadata"].get("uid", ""))
        if ps is None:
            continue
        containers = []
        for c in ps.get("containers") or []:
            usage = _usage(c.get("cpu"), c.get("memory"))
            if usage is not None:
                containers.append({"name": c.get("name", ""), "usage": usage})
        if not containers:
            continue
        ts = ((ps.get("cpu") or {}).get("time")) or now
        items.append({"metadata": _meta(p["metadata"], now, True), "timestamp": ts, "window": WINDOW,
                      "containers": containers})
    return items


async def handle(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    """GET (one or a list of) NodeMetrics / PodMetrics."""
    if req.info.verb not in ("get", "list"):
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    selector = req.param("labelSelector")
    if rt.kind == "NodeMetrics":
        items = await node_metrics(ctx, [name] if name else None, selector)
    else:
        items = await pod_metrics(ctx, ns, [name] if name else None, selector)
    if name:
        if not items:
            raise ApiError(404, "NotFound", f'{rt.plural}.{GROUP} "{name}" not found',
                           {"name": name, "group": GROUP, "kind": rt.plural})
        return json_resp({"kind": rt.kind, "apiVersion": API_VERSION, **items[0]})
    return json_resp({"kind": rt.list_kind, "apiVersion": API_VERSION, "metadata": {},
                      "items": sorted(items, key=lambda i: (i["metadata"].get("namespace", ""),
                                                            i["metadata"]["name"]))})
