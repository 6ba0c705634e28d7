"""SharedInformer: one reflector + one indexed cache, fanned out to many event handlers.

Controllers are level-triggered: handlers should only enqueue a key, and `reconcile` reads the
current state from a `Lister` over the same cache. One informer per (resource, namespace,
selectors) is shared through `InformerFactory`, so ten controllers watching pods cost one
watch, not ten.

Delivery rules (client-go's sharedIndexInformer):
* watch ADDED/MODIFIED → `on_add(obj)` if the key is new, else `on_update(old, new)`;
  watch DELETED → `on_delete(obj)`.
* A (re)LIST adds new keys, updates changed ones (same resourceVersion: no event), and for keys
  that vanished while we were not watching calls `on_delete(DeletedFinalStateUnknown(key, last))`.
* Every `resync_period` seconds each handler gets `on_update(obj, obj)` for every cached object.
* A handler added late gets `on_add` for everything already cached.

Objects passed to handlers and returned by listers are the cache's own dicts: READ-ONLY.
Use `copy_obj()` before changing one.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tugboat.api.scheme import ResourceType
from tugboat.api.selectors import LabelSelector, label_selector_from_dict, parse_label_selector
from tugboat.client.indexer import NAMESPACE_INDEX, Indexer, IndexFunc, meta_namespace_key
from tugboat.client.reflector import Reflector
from tugboat.client.rest import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """Passed to on_delete when an object vanished during a watch gap; `obj` may be stale."""

    key: str
    obj: dict[str, Any]


def deleted_object(obj: dict[str, Any] | DeletedFinalStateUnknown) -> dict[str, Any]:
    """The object from an on_delete argument, unwrapping a tombstone."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def copy_obj(obj: Any) -> Any:
    """A private deep copy of a cached object (orjson round trip: fast, never deepcopy)."""
    return orjson.loads(orjson.dumps(obj))


@dataclass(eq=False)
class EventHandler:
    on_add: Callable[[dict[str, Any]], Any] | None = None
    on_update: Callable[[dict[str, Any], dict[str, Any]], Any] | None = None
    on_delete: Callable[[Any], Any] | None = None
    resync_period: float = 0.0


class Lister:
    """Read-only queries over an informer's cache (results are shared: do not mutate)."""

    def __init__(self, indexer: Indexer):
        self.indexer = indexer

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.indexer.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None,
             label_selector: str | LabelSelector | Mapping[str, Any] | None = None) -> builtins.list[dict[str, Any]]:
        objs = self.indexer.by_index(NAMESPACE_INDEX, namespace) if namespace else self.indexer.list()
        sel = _selector(label_selector)
        if sel is None or sel.empty:
            return objs
        return [o for o in objs if sel.matches((o.get("metadata") or {}).get("labels"))]

    def by_index(self, index_name: str, value: str) -> builtins.list[dict[str, Any]]:
        return self.indexer.by_index(index_name, value)


def _selector(sel: str | LabelSelector | Mapping[str, Any] | None) -> LabelSelector | None:
    if sel is None or isinstance(sel, LabelSelector):
        return sel
    if isinstance(sel, str):
        return parse_label_selector(sel)
    return label_selector_from_dict(sel)


class SharedInformer:
    def __init__(self, client: Client, rt: ResourceType, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float = 0.0, indexers: dict[str, IndexFunc] | None = None,
                 page_size: int = 500, **reflector_opts: Any):
        self.rt = rt
        self.indexer = Indexer(indexers)
        self.lister = Lister(self.indexer)
        self.resync_period = resync_period
        self.reflector = Reflector(client, rt, self, namespace=namespace, label_selector=label_selector,
                                   field_selector=field_selector, page_size=page_size, **reflector_opts)
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resync_tasks: dict[EventHandler, asyncio.Task[None]] = {}
        self._pending: set[asyncio.Task[Any]] = set()

    # -- handlers ------------------------------------------------------------------------------

    def add_event_handler(self, handler: EventHandler | None = None, *,
                          on_add: Callable[[dict[str, Any]], Any] | None = None,
                          on_update: Callable[[dict[str, Any], dict[str, Any]], Any] | None = None,
                          on_delete: Callable[[Any], Any] | None = None,
                          resync_period: float | None = None) -> EventHandler:
        h = handler or EventHandler(on_add, on_update, on_delete,
                                    self.resync_period if resync_period is None else resync_period)
        self._handlers.append(h)
        for obj in self.indexer.list():
            self._call(h.on_add, obj)
        if self._task is not None:
            self._start_resync(h)
        return h

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)
        t = self._resync_tasks.pop(handler, None)
        if t:
            t.cancel()

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.indexer.add_indexers(indexers)

    def _call(self, fn: Callable[..., Any] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            res = fn(*args)
        except Exception:  # noqa: BLE001 - one bad handler must not stop the others
            log.exception("%s informer: event handler failed", self.rt.plural)
            return
        if inspect.isawaitable(res):
            t = asyncio.ensure_future(res)
            self._pending.add(t)
            t.add_done_callback(self._pending.discard)

    # -- ReflectorSink -------------------------------------------------------------------------

    def replace(self, items: list[dict[str, Any]], resource_version: str) -> None:
        seen: set[str] = set()
        for obj in items:
            key = meta_namespace_key(obj)
            seen.add(key)
            old = self.indexer.put(obj)
            if old is None:
                for h in list(self._handlers):
                    self._call(h.on_add, obj)
            elif _rv(old) != _rv(obj):
                for h in list(self._handlers):
                    self._call(h.on_update, old, obj)
        for key in [k for k in self.indexer.keys() if k not in seen]:
            old = self.indexer.delete(key)
            if old is not None:
                tomb = DeletedFinalStateUnknown(key, old)
                for h in list(self._handlers):
                    self._call(h.on_delete, tomb)
        self._synced.set()

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.indexer.delete(meta_namespace_key(obj))
            for h in list(self._handlers):
                self._call(h.on_delete, obj)
            return
        old = self.indexer.put(obj)
        for h in list(self._handlers):
            if old is None:
                self._call(h.on_add, obj)
            else:
                self._call(h.on_update, old, obj)

    # -- lifecycle -----------------------------------------------------------------------------

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    def start(self) -> None:
        """Start list+watch in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self.reflector.run(), name=f"informer-{self.rt.plural}")
            for h in self._handlers:
                self._start_resync(h)

    def _start_resync(self, h: EventHandler) -> None:
        if h.resync_period > 0 and h not in self._resync_tasks:
            self._resync_tasks[h] = asyncio.create_task(self._resync_loop(h))

    async def _resync_loop(self, h: EventHandler) -> None:
        while True:
            await asyncio.sleep(h.resync_period)
            if self.has_synced():
                for obj in self.indexer.list():
                    self._call(h.on_update, obj, obj)

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._resync_tasks.values(), *self._pending] if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._resync_tasks.clear()


def _rv(obj: dict[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")


class InformerFactory:
    """Shares one informer per (resource, namespace, selectors). Informers asked for after
    `start()` start at once."""

    def __init__(self, client: Client, *, namespace: str | None = None, resync_period: float = 0.0,
                 **informer_opts: Any):
        self.client = client
        self.namespace = namespace
        self.resync_period = resync_period
        self.informer_opts = informer_opts
        self._informers: dict[tuple[Any, ...], SharedInformer] = {}
        self._started = False

    def informer(self, rt: ResourceType, *, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, indexers: dict[str, IndexFunc] | None = None) -> SharedInformer:
        ns = namespace if namespace is not None else self.namespace
        key = (rt.group, rt.version, rt.plural, ns if rt.namespaced else None, label_selector or "",
               field_selector or "")
        inf = self._informers.get(key)
        if inf is None:
            inf = SharedInformer(self.client, rt, namespace=key[3], label_selector=label_selector,
                                 field_selector=field_selector, resync_period=self.resync_period,
                                 **self.informer_opts)
            self._informers[key] = inf
            if self._started:
                inf.start()
        new = {n: f for n, f in (indexers or {}).items() if n not in inf.indexer.index_names()}
        if new:
            inf.add_indexers(new)
        return inf

    def lister(self, rt: ResourceType, **kw: Any) -> Lister:
        return self.informer(rt, **kw).lister

    def start(self) -> None:
        self._started = True
        for inf in self._informers.values():
            inf.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
        self._started = False
