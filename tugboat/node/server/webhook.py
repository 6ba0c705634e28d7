"""Ask the API server who a caller is and what it may do (the kubelet's webhook authn/authz).

A kubelet started with `--authentication-token-webhook` and `--authorization-mode=Webhook`
keeps no policy of its own: a bearer token is sent to the API server in a TokenReview, every
request is checked with a SubjectAccessReview on `nodes/<subresource>` of its own node. So one
RBAC policy governs both the API server's `pods/exec` proxy and direct calls to the agent, and a
revoked token or a removed binding takes effect here too.

Answers are cached like the kubelet's defaults (`--authentication-token-webhook-cache-ttl` 2 min,
`--authorization-webhook-cache-authorized-ttl` 5 min, `…-unauthorized-ttl` 30 s), so a burst of
exec/log calls costs one review, not one per request. A failed review (API server unreachable)
is not cached.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_TTL = 120.0
AUTHORIZED_TTL = 300.0
UNAUTHORIZED_TTL = 30.0
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Caller:
    """An authenticated user as the API server's UserInfo: name, groups, uid, extra."""
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, list[str]] = field(default_factory=dict, compare=False, hash=False)


class TTLCache:
    """key → value, each entry with its own expiry; bounded (oldest dropped first)."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[0] <= self.clock():
            del self._data[key]
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if len(self._data) >= _MAX_ENTRIES:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (self.clock() + ttl, value)


class ReviewError(Exception):
    """The API server could not answer a review."""


class WebhookAuth:
    """TokenReview authentication and SubjectAccessReview authorization through `client`."""

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.monotonic,
                 token_ttl: float = TOKEN_TTL, authorized_ttl: float = AUTHORIZED_TTL,
                 unauthorized_ttl: float = UNAUTHORIZED_TTL):
        self.client = client
        self.ttl = (token_ttl, authorized_ttl, unauthorized_ttl)
        self._tokens = TTLCache(clock)
        self._decisions = TTLCache(clock)
        self.reviews = 0  # reviews sent to the API server (tests check the caching)

    async def authenticate_token(self, token: str) -> Caller | None:
        """The user a bearer token stands for, None if the API server rejects it."""
        key = hashlib.sha256(token.encode()).digest()
        cached = self._tokens.get(key)
        if cached is not None:
            return cached or None  # False: a cached rejection
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        status = await self._review("/apis/authentication.k8s.io/v1/tokenreviews", body)
        user: Caller | None = None
        if status.get("authenticated"):
            u = status.get("user") or {}
            extra = u.get("extra") or {}
            user = Caller(str(u.get("username") or ""), tuple(u.get("groups") or ()), str(u.get("uid") or ""),
                          {k: list(v) for k, v in extra.items()} if isinstance(extra, dict) else {})
        self._tokens.put(key, user or False, self.ttl[0])
        return user

    async def authorize(self, user: Caller, verb: str, node: str, subresource: str) -> tuple[bool, str]:
        """(allowed, reason) for `verb` on `nodes/<subresource>` named `node`."""
        extra_key = tuple(sorted((k, tuple(v)) for k, v in user.extra.items()))
        key = (user.name, user.groups, user.uid, extra_key, verb, node, subresource)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups),
                                "resourceAttributes": {"verb": verb, "group": "", "version": "v1",
                                                       "resource": "nodes", "subresource": subresource,
                                                       "name": node}}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        status = await self._review("/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
        answer = (bool(status.get("allowed")), str(status.get("reason") or ""))
        self._decisions.put(key, answer, self.ttl[1] if answer[0] else self.ttl[2])
        return answer

    async def _review(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.reviews += 1
        try:
            out = await self.client.request("POST", path, body=body)
        except Exception as e:  # noqa: BLE001 - any failure to reach the API server is the same answer
            raise ReviewError(f"{body['kind']}: {e}") from e
        status = out.get("status") if isinstance(out, dict) else None
        return status if isinstance(status, dict) else {}
