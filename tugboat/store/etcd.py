"""etcd v3 backend: the HA datastore, spoken to through etcd's JSON gRPC-gateway.

etcd already is an MVCC store with the same revision model as our protocol (kine copied it),
so each operation maps to one request and no in-memory MvccState is kept:
- create  = txn(create_revision(key) == 0) put, else range (→ KeyExistsError)
- update  = txn(mod_revision(key) == expected) put, else range (→ NotFound / Conflict + current)
- delete  = the same with a delete_range carrying prev_kv
- list    = range [prefix+start, prefix_end) with limit and revision; etcd sorts by key and
            returns `count` of the whole range, from which `remaining` follows
- watch   = streaming /v3/watch from after+1 with prev_kv, resumed after a broken stream from
            the last revision seen (possibly on another endpoint)
Every key is stored under `prefix`, so several clusters (or tests) can share one etcd.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .backend import (
    ConflictError,
    KeyExistsError,
    KeyValue,
    ListResult,
    NotFoundError,
)
from .compactor import DEFAULT_INTERVAL, Compactor
from .etcd_gateway import (
    Gateway,
    GatewayError,
    b64,
    is_compacted,
    map_revision_error,
    messages,
    prefix_end,
    to_kv,
)
from .etcd_watch import EtcdWatch


class EtcdBackend:
    def __init__(
        self,
        endpoints: list[str],
        prefix: str = "",
        *,
        compact_interval: float | None = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.gateway = Gateway(endpoints)
        self.prefix = prefix
        self._p = prefix.encode()
        self._watches: set[EtcdWatch] = set()
        self.compactor = Compactor(self, interval=compact_interval, clock=clock) if compact_interval else None

    def _key(self, key: str) -> str:
        return b64(self._p + key.encode() or b"\0")  # etcd refuses an empty key

    def _kv(self, d: dict[str, Any]) -> KeyValue:
        return to_kv(d, len(self._p))

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.gateway.start()
        if self.compactor is not None:
            self.compactor.start()

    async def close(self) -> None:
        if self.compactor is not None:
            await self.compactor.stop()
        for w in list(self._watches):
            await w.close()
        await self.gateway.close()

    # ---- reads ----------------------------------------------------------------------------
    async def current_revision(self) -> int:
        r = await self.gateway.call("/v3/kv/range", {"key": self._key(""), "count_only": True})
        return int(r["header"]["revision"])

    async def compacted_revision(self) -> int:
        """etcd does not report this directly: a watch from revision 1 is refused with it."""
        try:
            await self.gateway.call("/v3/kv/range", {"key": self._key(""), "revision": 1, "count_only": True})
            return 0
        except GatewayError as e:
            if not is_compacted(e):
                raise
        resp = await self.gateway.open_stream(
            "/v3/watch", {"create_request": {"key": self._key(""), "start_revision": 1}}
        )
        try:
            async with asyncio.timeout(10):
                async for msg in messages(resp):
                    res = msg.get("result", {})
                    if "compact_revision" in res:
                        return int(res["compact_revision"])
                    if res.get("canceled") or "error" in msg:
                        break
        finally:
            resp.close()
        return 0

    async def _range(self, body: dict[str, Any], revision: int) -> dict[str, Any]:
        try:
            return await self.gateway.call("/v3/kv/range", body)
        except GatewayError as e:
            mapped = map_revision_error(e, revision, 0, 0)
            if mapped is e:
                raise
            if is_compacted(e):
                mapped = map_revision_error(e, revision, await self.compacted_revision(), 0)
            else:
                mapped = map_revision_error(e, revision, 0, await self.current_revision())
            raise mapped from None

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        r = await self._range({"key": self._key(key), "revision": revision}, revision)
        kvs = r.get("kvs")
        return self._kv(kvs[0]) if kvs else None

    async def list(self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        full = self._p + prefix.encode()
        start = self._p + start_after.encode() + b"\0" if start_after >= prefix else full
        body = {"key": b64(start or b"\0"), "range_end": b64(prefix_end(full)), "limit": limit, "revision": revision}
        r = await self._range(body, revision)
        items = [self._kv(d) for d in r.get("kvs", ())]
        count = int(r.get("count", 0))
        snapshot = revision or int(r["header"]["revision"])  # the header carries the current revision
        return ListResult(snapshot, items, bool(r.get("more")), max(0, count - len(items)))

    async def count(self, prefix: str) -> int:
        full = self._p + prefix.encode()
        r = await self.gateway.call(
            "/v3/kv/range", {"key": b64(full or b"\0"), "range_end": b64(prefix_end(full)), "count_only": True}
        )
        return int(r.get("count", 0))

    # ---- writes ---------------------------------------------------------------------------
    async def _txn(self, key: str, compare: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
        k = self._key(key)
        body = {
            "compare": [{"key": k, **compare}],
            "success": [op],
            "failure": [{"request_range": {"key": k}}],
        }
        return await self.gateway.call("/v3/kv/txn", body)

    def _failed(self, key: str, r: dict[str, Any]) -> KeyValue | None:
        kvs = r["responses"][0]["response_range"].get("kvs")
        return self._kv(kvs[0]) if kvs else None

    async def create(self, key: str, value: bytes) -> int:
        cmp = {"target": "CREATE", "result": "EQUAL", "create_revision": 0}
        r = await self._txn(key, cmp, {"request_put": {"key": self._key(key), "value": b64(value)}})
        if not r.get("succeeded"):
            raise KeyExistsError(key)
        return int(r["header"]["revision"])

    def _precondition(self, expected: int) -> dict[str, Any]:
        if expected:
            return {"target": "MOD", "result": "EQUAL", "mod_revision": expected}
        return {"target": "CREATE", "result": "GREATER", "create_revision": 0}  # exists

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        op = {"request_put": {"key": self._key(key), "value": b64(value)}}
        r = await self._txn(key, self._precondition(expected_revision), op)
        if not r.get("succeeded"):
            cur = self._failed(key, r)
            raise NotFoundError(key) if cur is None else ConflictError(key, cur)
        return int(r["header"]["revision"])

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KeyValue]:
        op = {"request_delete_range": {"key": self._key(key), "prev_kv": True}}
        r = await self._txn(key, self._precondition(expected_revision), op)
        if not r.get("succeeded"):
            cur = self._failed(key, r)
            raise NotFoundError(key) if cur is None else ConflictError(key, cur)
        prev = r["responses"][0]["response_delete_range"].get("prev_kvs")
        if not prev:  # deleted by someone else between compare and delete cannot happen in a txn
            raise NotFoundError(key)
        return int(r["header"]["revision"]), self._kv(prev[0])

    # ---- watch and compaction -------------------------------------------------------------
    def watch(self, prefix: str, after_revision: int) -> EtcdWatch:
        return EtcdWatch(self, prefix, after_revision)

    async def compact(self, revision: int) -> None:
        revision = min(revision, await self.current_revision())
        if revision <= 0:
            return
        try:
            await self.gateway.call("/v3/kv/compaction", {"revision": revision, "physical": False})
        except GatewayError as e:
            if not is_compacted(e):  # already compacted at or past it: nothing to do
                raise
