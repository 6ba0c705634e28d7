"""EventRecorder: write core/v1 Events about objects (what `kubectl describe` shows).

Controllers report the same thing over and over (a pod failing to schedule every retry), so
like upstream's EventCorrelator an identical event (same source, involved object, type,
reason and message) is not created again: the existing Event's `count` is bumped and its
`lastTimestamp` moved with a strategic-merge PATCH. If that Event is gone (expired after its
TTL) a fresh one is created. Recording is best effort: failures are logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client.clock import AsyncClock, RealClock
from tugboat.client.errors import ApiStatusError, is_not_found
from tugboat.client.rest import Client
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
_rt = default_scheme().by_kind("", "v1", "Event")
assert _rt is not None
EVENT: ResourceType = _rt
NORMAL, WARNING = "Normal", "Warning"


def object_reference(obj: Mapping[str, Any], field_path: str = "") -> dict[str, Any]:
    md = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": md.get("namespace", ""), "name": md.get("name", ""),
           "uid": md.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": md.get("resourceVersion", "")}
    if field_path:
        ref["fieldPath"] = field_path
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "", *, clock: AsyncClock | None = None,
                 cache_size: int = 4096):
        self.client = client
        self.source = {"component": component, **({"host": host} if host else {})}
        self.clock: AsyncClock = clock or RealClock()
        self.cache_size = cache_size
        # dedupe key -> (namespace, event name, count)
        self._seen: OrderedDict[tuple[Any, ...], tuple[str, str, int]] = OrderedDict()
        self._pending: set[asyncio.Task[Any]] = set()
        self._last_ns = 0

    def emit(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, field_path: str = "") -> None:
        """Record in the background (for sync callers such as event handlers)."""
        t = asyncio.get_running_loop().create_task(self.event(obj, type_, reason, message, field_path))
        self._pending.add(t)
        t.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait until events emitted so far are written."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str,
                    field_path: str = "") -> dict[str, Any] | None:
        ref = object_reference(obj, field_path)
        key = (self.source.get("component"), self.source.get("host"), ref.get("kind"), ref.get("namespace"),
               ref.get("name"), ref.get("uid"), ref.get("apiVersion"), type_, reason, message)
        now = rfc3339(self.clock.time())
        try:
            seen = self._seen.get(key)
            if seen is not None:
                ns, name, count = seen
                try:
                    ev = await self.client.patch(EVENT, name, {"count": count + 1, "lastTimestamp": now,
                                                               "message": message},
                                                 ns, patch_type="strategic")
                    self._remember(key, ns, name, count + 1)
                    return ev
                except ApiStatusError as e:
                    if not is_not_found(e):
                        raise
            return await self._create(key, ref, type_, reason, message, now)
        except Exception as e:  # noqa: BLE001 - events are best effort
            log.warning("unable to record event %s/%s for %s: %s", type_, reason, ref.get("name"), e)
            return None

    async def _create(self, key: tuple[Any, ...], ref: dict[str, Any], type_: str, reason: str, message: str,
                      now: str) -> dict[str, Any]:
        ns = ref.get("namespace") or "default"
        # unique per recorder even when the clock stands still (a FakeClock in tests)
        self._last_ns = max(int(self.clock.time() * 1e9), self._last_ns + 1)
        name = f"{ref.get('name', 'event')}.{self._last_ns:x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref, "reason": reason, "message": message, "type": type_,
            "source": self.source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", ""),
        }
        ev = await self.client.create(EVENT, body, ns)
        self._remember(key, ns, name, 1)
        return ev

    def _remember(self, key: tuple[Any, ...], ns: str, name: str, count: int) -> None:
        self._seen[key] = (ns, name, count)
        self._seen.move_to_end(key)
        while len(self._seen) > self.cache_size:
            self._seen.popitem(last=False)
