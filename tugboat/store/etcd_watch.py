"""Watch over etcd's streaming /v3/watch, resumable across broken streams and endpoints.

The stream is opened on first iteration from `after + 1`. If it breaks (etcd restarted, an
endpoint died), it is reopened from the last revision delivered, so the caller sees every
event once, in order — the guarantee a reflector relies on. A compacted start revision ends
the watch with CompactedError, as the protocol demands.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp

from .backend import CompactedError, Event, KeyValue, StoreError
from .etcd_gateway import EndpointsDown, GatewayError, b64, messages, prefix_end

if TYPE_CHECKING:
    from .etcd import EtcdBackend

MAX_BACKOFF = 2.0


class EtcdWatch:
    def __init__(self, backend: EtcdBackend, prefix: str, after: int):
        self._b = backend
        self.prefix = prefix
        self._last = after
        self._resp: aiohttp.ClientResponse | None = None
        self._closed = False
        backend._watches.add(self)

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        return self._iter()

    async def close(self) -> None:
        self._closed = True
        self._b._watches.discard(self)
        if self._resp is not None:
            self._resp.close()

    def _body(self) -> dict[str, Any]:
        full = self._b._p + self.prefix.encode()
        req = {"key": b64(full or b"\0"), "range_end": b64(prefix_end(full)), "start_revision": self._last + 1, "prev_kv": True}
        return {"create_request": req}

    def _event(self, e: dict[str, Any]) -> Event:
        kv = self._b._kv(e["kv"])
        prev = self._b._kv(e["prev_kv"]) if "prev_kv" in e else None
        if e.get("type") == "DELETE":
            value, crev = (prev.value, prev.create_revision) if prev else (b"", 0)
            return Event("DELETE", KeyValue(kv.key, value, crev, kv.mod_revision), prev)
        if e["kv"].get("version") == "1":
            prev = None  # a create (prev_kv is absent anyway)
        return Event("PUT", kv, prev)

    async def _iter(self) -> AsyncIterator[list[Event]]:
        backoff = 0.05
        try:
            while not self._closed:
                try:
                    self._resp = await self._b.gateway.open_stream("/v3/watch", self._body())
                except EndpointsDown:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if self._closed:
                    return
                try:
                    async for msg in messages(self._resp):
                        if "error" in msg:
                            raise GatewayError(200, msg["error"])
                        res = msg.get("result") or {}
                        if int(res.get("compact_revision", 0)):
                            raise CompactedError(self._last, int(res["compact_revision"]))
                        if res.get("canceled"):
                            raise StoreError(f"etcd watch canceled: {res.get('cancel_reason', '')}")
                        if evs := res.get("events"):
                            batch = [self._event(e) for e in evs]
                            self._last = batch[-1].revision
                            backoff = 0.05
                            yield batch
                except (aiohttp.ClientError, ConnectionError):
                    pass  # broken stream: reopen from the last revision delivered
                finally:
                    if self._resp is not None:
                        self._resp.close()
                        self._resp = None
                if not self._closed:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            self._closed = True
            self._b._watches.discard(self)
