"""The async REST client every Tugboat component uses to talk to the API server.

It speaks the Kubernetes REST API over HTTP(S) only (no shortcuts into the store), so a
controller behaves the same in-process and on another machine. One aiohttp session is kept
for keep-alive; every request passes a client-side token bucket (default 50 qps, burst 100,
as controllers must not hammer the server) and is retried with exponential back-off and
jitter on 429 (honouring Retry-After), on 5xx for idempotent verbs and on connection errors
(for non-idempotent verbs only when the request provably never reached the server).
Failures raise `ApiStatusError` carrying the server's Status. Objects are plain dicts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from tugboat.api.scheme import ResourceType
from tugboat.client.config import Config
from tugboat.client.discovery import Discovery
from tugboat.client.errors import ApiStatusError
from tugboat.client.ratelimit import AsyncRateLimiter

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_MAX_RETRY_AFTER = 30.0


def resource_path(rt: ResourceType, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """`/api/v1/namespaces/ns/pods/name/status` and friends."""
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{rt.plural}"
    if name is not None:
        if not name:
            raise ValueError("resource name may not be empty")
        base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
    return base


def _str_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (params or {}).items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


class Client:
    """Async Kubernetes REST client. Use as `async with Client(cfg) as c:` or call `close()`."""

    def __init__(self, config: Config, *, component: str = "client", qps: float = 50.0, burst: int = 100,
                 max_retries: int = 5, retry_base: float = 0.2, retry_cap: float = 10.0,
                 timeout: float = 60.0):
        self.config = config
        self.user_agent = f"tugboat/{component}"
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.timeout = timeout
        self.limiter = AsyncRateLimiter(qps, burst)
        self.discovery = Discovery(self)
        self._session: aiohttp.ClientSession | None = None

    # -- session -------------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_ctx = self.config.ssl_context()
            # idle connections live 60 s (aiohttp: 15 s): bursts of writes re-use them instead of
            # paying a TLS handshake on both sides again a few seconds later (perf, docs/benchmarks.md)
            connector = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx is not None else False, limit=0,
                                             keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                base_url=None, connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(),
                headers={"User-Agent": self.user_agent}, timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport -----------------------------------------------------------------------------

    def _headers(self, content_type: str | None, accept: str | None) -> dict[str, str]:
        h = {"Accept": accept or "application/json"}
        if content_type:
            h["Content-Type"] = content_type
        tok = self.config.bearer_token()
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        return h

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(_MAX_RETRY_AFTER, max(0.0, float(retry_after)))
            except ValueError:
                pass
        delay = min(self.retry_cap, self.retry_base * (2 ** attempt))
        return delay * (0.5 + random.random() / 2)  # jitter: 50-100 % of the step

    async def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                    body: bytes | None = None, content_type: str | None = None, accept: str | None = None,
                    timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientResponse:
        """Send with rate limiting and retries; return a response with a 2xx status."""
        url = self.config.server + path
        qp = _str_params(params)
        idempotent = method in IDEMPOTENT
        attempt = 0
        while True:
            await self.limiter.wait()
            session = self._get_session()
            try:
                resp = await session.request(
                    method, url, params=qp, data=body, headers=self._headers(content_type, accept),
                    timeout=timeout or aiohttp.ClientTimeout(total=self.timeout),
                    server_hostname=self.config.tls_server_name,
                )
            except (TimeoutError, aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                never_sent = isinstance(e, aiohttp.ClientConnectorError)
                if self.config.servers and not isinstance(e, TimeoutError) and self.config.failover():
                    url = self.config.server + path  # HA: this server is gone, try the next one
                if attempt < self.max_retries and (idempotent or never_sent):
                    await asyncio.sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise
            if resp.status < 300:
                return resp
            data = await resp.read()
            retry_after = resp.headers.get("Retry-After")
            resp.release()
            retryable = resp.status == 429 or (resp.status >= 500 and (idempotent or retry_after is not None))
            if retryable and attempt < self.max_retries:
                await asyncio.sleep(self._backoff(attempt, retry_after))
                attempt += 1
                continue
            raise ApiStatusError.from_response(resp.status, data, _maybe_json(data))

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      body: Any = None, content_type: str | None = None, accept: str | None = None,
                      raw: bool = False) -> Any:
        """Any API call (subresources such as scale, binding, eviction; discovery; /version).

        `body` is a dict/list (JSON-encoded) or bytes. Returns the decoded JSON, or bytes with
        `raw=True` or when the response is not JSON.
        """
        data = body if isinstance(body, bytes | None) else orjson.dumps(body)
        if data is not None and content_type is None:
            content_type = "application/json"
        resp = await self._send(method.upper(), path, params=params, body=data, content_type=content_type,
                                accept=accept)
        try:
            payload = await resp.read()
        finally:
            resp.release()
        if raw:
            return payload
        parsed = _maybe_json(payload)
        return payload if parsed is None and payload else parsed

    # -- verbs ---------------------------------------------------------------------------------

    @staticmethod
    def _ns(rt: ResourceType, namespace: str | None, obj: Mapping[str, Any] | None = None) -> str | None:
        if not rt.namespaced:
            return None
        ns = namespace or ((obj or {}).get("metadata") or {}).get("namespace")
        if not ns:
            raise ValueError(f"{rt.plural} is namespaced: a namespace is required")
        return str(ns)

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        return await self.request("GET", resource_path(rt, self._ns(rt, namespace), name))  # type: ignore[no-any-return]

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None,
                   resource_version_match: str | None = None) -> dict[str, Any]:
        """One page of a list; `namespace=None` lists all namespaces. Items get kind/apiVersion."""
        params = {"labelSelector": label_selector or None, "fieldSelector": field_selector or None,
                  "limit": limit or None, "continue": continue_ or None, "resourceVersion": resource_version or None,
                  "resourceVersionMatch": resource_version_match or None}
        ns = namespace if rt.namespaced else None
        result: dict[str, Any] = await self.request("GET", resource_path(rt, ns), params=params)
        for item in result.get("items") or ():
            item.setdefault("kind", rt.kind)
            item.setdefault("apiVersion", rt.api_version)
        return result

    async def create(self, rt: ResourceType, body: Mapping[str, Any], namespace: str | None = None, *,
                     field_manager: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        params = {"fieldManager": field_manager, "dryRun": "All" if dry_run else None}
        return await self.request("POST", resource_path(rt, self._ns(rt, namespace, body)), params=params,  # type: ignore[no-any-return]
                                  body=dict(body))

    async def _put(self, rt: ResourceType, body: Mapping[str, Any], namespace: str | None, sub: str | None,
                   field_manager: str | None) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("metadata.name is required to update an object")
        path = resource_path(rt, self._ns(rt, namespace, body), name, sub)
        return await self.request("PUT", path, params={"fieldManager": field_manager}, body=dict(body))  # type: ignore[no-any-return]

    async def update(self, rt: ResourceType, body: Mapping[str, Any], namespace: str | None = None, *,
                     field_manager: str | None = None) -> dict[str, Any]:
        """PUT; send metadata.resourceVersion for optimistic concurrency (409 Conflict if stale)."""
        return await self._put(rt, body, namespace, None, field_manager)

    async def update_status(self, rt: ResourceType, body: Mapping[str, Any], namespace: str | None = None, *,
                            field_manager: str | None = None) -> dict[str, Any]:
        return await self._put(rt, body, namespace, "status", field_manager)

    async def patch(self, rt: ResourceType, name: str, body: Any, namespace: str | None = None, *,
                    patch_type: str = "merge", field_manager: str | None = None, force: bool | None = None,
                    subresource: str | None = None) -> dict[str, Any]:
        """PATCH with merge / json / strategic / apply (server-side apply needs field_manager)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}; use one of {sorted(PATCH_TYPES)}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply requires a field_manager")
        params = {"fieldManager": field_manager, "force": force if patch_type == "apply" else None}
        path = resource_path(rt, self._ns(rt, namespace), name, subresource)
        return await self.request("PATCH", path, params=params, body=body,  # type: ignore[no-any-return]
                                  content_type=PATCH_TYPES[patch_type])

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Mapping[str, str] | None = None) -> dict[str, Any]:
        """DELETE; returns the object (if finalizers/grace keep it) or a Success Status."""
        opts: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            opts["preconditions"] = dict(preconditions)
        return await self.request("DELETE", resource_path(rt, self._ns(rt, namespace), name), body=opts)  # type: ignore[no-any-return]

    async def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) for ADDED/MODIFIED/DELETED/BOOKMARK events until the server ends
        the stream. An ERROR event is raised as `ApiStatusError` (410 Expired when the
        resourceVersion is too old). Connection drops mid-stream raise aiohttp errors.
        """
        params = {"watch": True, "resourceVersion": resource_version or None,
                  "labelSelector": label_selector or None, "fieldSelector": field_selector or None,
                  "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": True if allow_bookmarks else None}
        ns = namespace if rt.namespaced else None
        resp = await self._send("GET", resource_path(rt, ns), params=params,
                                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout))
        try:
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = buf[:nl], buf[nl + 1:]
                    if line.strip():
                        yield _decode_event(line)
            if buf.strip():
                try:
                    ev = _decode_event(buf)
                except orjson.JSONDecodeError:  # a truncated last line: the stream was cut
                    return
                yield ev
        finally:
            resp.close()

    async def resource_for(self, api_version: str, kind: str) -> ResourceType:
        """The ResourceType for (apiVersion, kind): built-ins directly, others via discovery."""
        return await self.discovery.resource_for(api_version, kind)


def _decode_event(line: bytes) -> tuple[str, dict[str, Any]]:
    ev = orjson.loads(line)
    typ, obj = ev.get("type"), ev.get("object") or {}
    if typ == "ERROR":
        raise ApiStatusError.from_status(obj)
    return typ, obj


def _maybe_json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
