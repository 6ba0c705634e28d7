"""A small client for etcd v3's JSON gRPC-gateway (POST /v3/kv/*, streaming /v3/watch).

Why the gateway: it speaks plain HTTP/JSON, so we need no grpc/protobuf dependency; aiohttp
is already ours. Encoding facts (etcd 3.4+ gateway): keys and values are base64 strings,
int64 fields arrive as JSON strings, and zero values (false, 0, PUT) are omitted.

Failover: requests go to the endpoint that last worked; on a connection failure the next
endpoint in the list is tried, each at most once per request.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from .backend import CompactedError, FutureRevisionError, KeyValue, StoreError

COMPACTED_MSG = "required revision has been compacted"
FUTURE_MSG = "required revision is a future revision"


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s: str | None) -> bytes:
    return base64.b64decode(s) if s else b""


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix` (etcd's range_end)."""
    p = bytearray(prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return b"\0"  # "" prefix: from key to the end of the keyspace


UNAVAILABLE = 14  # gRPC status code
UNAVAILABLE_RETRIES = 12  # ≈ 8 s of back-off: longer than an etcd election (1 s election timeout)


class GatewayError(StoreError):
    def __init__(self, status: int, body: dict[str, Any]):
        self.status = status
        self.code = int(body.get("code", 0) or 0)
        self.detail = str(body.get("message") or body.get("error") or body)
        super().__init__(f"etcd: {self.detail} (http {status}, code {self.code})")


class EndpointsDown(StoreError):
    pass


class Gateway:
    def __init__(self, endpoints: list[str]):
        if not endpoints:
            raise ValueError("etcd: no endpoints")
        self.endpoints = [e if "://" in e else f"http://{e}" for e in endpoints]
        self._current = 0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=5, sock_read=None),
            json_serialize=lambda o: orjson.dumps(o).decode(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _order(self) -> list[int]:
        """Endpoints to try: the last good one first, each twice. A second go is what revives a
        pooled keep-alive connection that the server closed while idle (e.g. it restarted).
        Such a retry can repeat a write whose answer was lost: like etcd's own client, callers
        then see KeyExists/Conflict and re-read, as they would after any ambiguous failure."""
        n = len(self.endpoints)
        return [(self._current + i) % n for i in range(n)] * 2

    async def call(self, path: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """POST a unary request; raise GatewayError for etcd errors, EndpointsDown if none answers.

        gRPC Unavailable (code 14: "leader changed", "no leader") is what a member answers while
        the cluster elects a new leader after losing one; like etcd's own client, retry it for a
        few seconds instead of failing the API request (a repeated write resolves as above)."""
        for attempt in range(UNAVAILABLE_RETRIES):
            try:
                return await self._call(path, body, timeout)
            except GatewayError as e:
                if e.code != UNAVAILABLE or attempt == UNAVAILABLE_RETRIES - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _call(self, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self._session is not None, "Gateway.start() first"
        last: Exception | None = None
        for i in self._order():
            try:
                async with self._session.post(
                    self.endpoints[i] + path, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
                ) as resp:
                    data = orjson.loads(await resp.read())
                    self._current = i
                    if resp.status != 200:
                        raise GatewayError(resp.status, data)
                    out: dict[str, Any] = data
                    return out
            except (aiohttp.ClientConnectionError, TimeoutError) as e:
                last = e
        raise EndpointsDown(f"etcd: no endpoint answered: {last!r}")

    async def open_stream(self, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """POST a streaming request (with failover); read it with `messages`."""
        assert self._session is not None, "Gateway.start() first"
        last: Exception | None = None
        for i in self._order():
            try:
                resp = await self._session.post(self.endpoints[i] + path, json=body)
            except (aiohttp.ClientConnectionError, TimeoutError) as e:
                last = e
                continue
            self._current = i
            if resp.status != 200:
                try:
                    raise GatewayError(resp.status, orjson.loads(await resp.read()))
                finally:
                    resp.release()
            return resp
        raise EndpointsDown(f"etcd: no endpoint answered: {last!r}")


async def messages(resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The newline-delimited JSON messages of a streaming gateway response, without a line limit."""
    buf = b""
    async for chunk in resp.content.iter_any():
        buf += chunk
        while (nl := buf.find(b"\n")) >= 0:
            line, buf = buf[:nl], buf[nl + 1 :]
            if line.strip():
                yield orjson.loads(line)


def is_compacted(e: GatewayError) -> bool:
    return COMPACTED_MSG in e.detail


def is_future(e: GatewayError) -> bool:
    return FUTURE_MSG in e.detail


def map_revision_error(e: GatewayError, requested: int, compacted: int, current: int) -> StoreError:
    if is_compacted(e):
        return CompactedError(requested, compacted)
    if is_future(e):
        return FutureRevisionError(requested, current)
    return e


def to_kv(d: dict[str, Any], strip: int) -> KeyValue:
    """A gateway KeyValue → ours, with the backend's key prefix (`strip` bytes) removed."""
    return KeyValue(
        unb64(d.get("key"))[strip:].decode(),
        unb64(d.get("value")),
        int(d.get("create_revision", 0)),
        int(d.get("mod_revision", 0)),
    )
