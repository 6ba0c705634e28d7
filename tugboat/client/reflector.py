"""Reflector: keep a local copy of one resource in step with the server by LIST then WATCH.

Semantics follow client-go's reflector (after kubernetes#83520), because getting them wrong
either loses events or travels back in time:

* The first LIST uses resourceVersion="0" (any cached state is fine) with pages of 500.
* WATCH resumes from the last resourceVersion seen (object or BOOKMARK). A stream that ends
  (server timeout, dropped connection) is re-opened from that RV: no loss, no duplicates.
* A watch that fails with 410 Expired triggers a re-LIST *at the last seen RV* (at least as
  new as what we have, served without paging so it cannot be an old snapshot). Only if that
  LIST is itself rejected as expired / too-large does the next LIST use RV="" (a quorum read).
* Errors back off exponentially (0.8 s to 30 s, with jitter); success resets the back-off.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Protocol

import aiohttp

from tugboat.api.scheme import ResourceType
from tugboat.client.errors import (
    ApiStatusError,
    is_expired,
    is_too_large_resource_version,
    is_too_many_requests,
)
from tugboat.client.rest import Client

log = logging.getLogger(__name__)
_CONN_ERRORS = (aiohttp.ClientError, ConnectionError, TimeoutError, OSError)


class ReflectorSink(Protocol):
    def replace(self, items: list[dict[str, Any]], resource_version: str) -> None: ...

    def apply(self, event_type: str, obj: dict[str, Any]) -> None: ...


class _Relist(Exception):
    """Internal: end the watch loop and LIST again."""


class Reflector:
    def __init__(self, client: Client, rt: ResourceType, sink: ReflectorSink, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None, page_size: int = 500,
                 min_watch_timeout: float = 300.0, backoff_initial: float = 0.8, backoff_max: float = 30.0):
        self.client = client
        self.rt = rt
        self.sink = sink
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.min_watch_timeout = min_watch_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.last_sync_resource_version = ""
        self._rv_unavailable = False  # the last RV was rejected: next LIST must be a quorum read
        self._paginated_result = False
        self._failures = 0
        self.lists = 0  # counters, for tests and metrics
        self.watches = 0

    # -- resourceVersion choice (client-go relistResourceVersion) ---------------------------

    def relist_resource_version(self) -> str:
        if self._rv_unavailable:
            return ""
        return self.last_sync_resource_version or "0"

    # -- main loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """LIST+WATCH forever (until cancelled), backing off on errors."""
        while True:
            try:
                await self.list_and_watch()
            except asyncio.CancelledError:
                raise
            except _Relist:
                continue
            except Exception as e:  # noqa: BLE001 - any failure: log, back off, relist
                self._failures += 1
                log.warning("%s: list/watch failed: %s", self.rt.plural, e)
                await asyncio.sleep(self._backoff())

    def _backoff(self) -> float:
        step = min(self.backoff_max, self.backoff_initial * (2 ** max(0, self._failures - 1)))
        return step * (1 + random.random() * 0.2)

    async def list_and_watch(self) -> None:
        await self._list()
        while True:
            await self._watch_once()

    async def _list(self) -> None:
        rv = self.relist_resource_version()
        page_size = self.page_size
        if not self._paginated_result and rv not in ("", "0"):
            page_size = 0  # served from the watch cache, at least as new as rv: never back in time
        items: list[dict[str, Any]] = []
        cont: str | None = None
        self.lists += 1
        while True:
            try:
                page = await self.client.list(
                    self.rt, self.namespace, label_selector=self.label_selector,
                    field_selector=self.field_selector, limit=page_size or None, continue_=cont,
                    resource_version=None if cont else rv)
            except ApiStatusError as e:
                if cont and is_expired(e):
                    # The continue token expired between pages: one full, unpaged list instead.
                    items, cont = [], None
                    page = await self.client.list(self.rt, self.namespace, label_selector=self.label_selector,
                                                  field_selector=self.field_selector, resource_version=rv)
                elif (is_expired(e) or is_too_large_resource_version(e)) and rv != "":
                    self._rv_unavailable = True
                    raise _Relist from e
                else:
                    raise
            items.extend(page.get("items") or ())
            cont = (page.get("metadata") or {}).get("continue") or None
            if cont:
                self._paginated_result = True
            if not cont:
                break
        list_rv = (page.get("metadata") or {}).get("resourceVersion") or ""
        self.sink.replace(items, list_rv)
        self.last_sync_resource_version = list_rv
        self._rv_unavailable = False
        self._failures = 0

    async def _watch_once(self) -> None:
        timeout = int(self.min_watch_timeout * (1 + random.random()))
        self.watches += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        events = 0
        try:
            stream = self.client.watch(
                self.rt, self.namespace, resource_version=self.last_sync_resource_version,
                label_selector=self.label_selector, field_selector=self.field_selector,
                timeout_seconds=max(1, timeout), allow_bookmarks=True)
            async for typ, obj in stream:
                events += 1
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if typ in ("ADDED", "MODIFIED", "DELETED"):
                    obj.setdefault("kind", self.rt.kind)
                    obj.setdefault("apiVersion", self.rt.api_version)
                    self.sink.apply(typ, obj)
                elif typ != "BOOKMARK":
                    log.warning("%s: unexpected watch event type %r", self.rt.plural, typ)
                    continue
                if rv:
                    self.last_sync_resource_version = rv
        except ApiStatusError as e:
            if is_expired(e):
                # Relist at the last RV we saw (not "") — see module docstring.
                log.info("%s: watch expired at %s; relisting", self.rt.plural, self.last_sync_resource_version)
                raise _Relist from e
            if is_too_many_requests(e) or e.code >= 500:
                self._failures += 1
                await asyncio.sleep(self._backoff())
                return
            raise
        except _CONN_ERRORS as e:
            self._failures += 1
            log.info("%s: watch connection lost (%s); resuming from %s", self.rt.plural, e,
                     self.last_sync_resource_version)
            await asyncio.sleep(self._backoff() if events == 0 else 0)
            return
        if events:
            self._failures = 0
        elif loop.time() - started < 1.0:
            # A watch that ends at once with nothing in it: something is wrong; don't spin.
            self._failures += 1
            await asyncio.sleep(self._backoff())
