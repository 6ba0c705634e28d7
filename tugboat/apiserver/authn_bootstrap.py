"""Bootstrap-token authentication: how a joining node proves it may ask for a credential.

Upstream's bootstrap authenticator (plugin/pkg/auth/authenticator/token/bootstrap): a bearer
token `<id>.<secret>` ([a-z0-9]{6}.[a-z0-9]{16}) is valid while the Secret
`kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` exists, is not being
deleted, holds the same `token-secret`, has `usage-bootstrap-authentication: "true"` and has not
passed its `expiration` (RFC 3339). The user is `system:bootstrap:<id>` in `system:bootstrappers`
plus the Secret's `auth-extra-groups` (each must start with `system:bootstrappers:`).

A bearer token in this format is owned by this authenticator: when it does not check out the
request is refused with 401 (rather than falling through to anonymous), so a stale join token
fails loudly. Secrets are read from the registry on each use: bootstrap requests are rare (a
node's first minute), and a deleted or expired token stops working at once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tugboat.api import errors
from tugboat.util.clock import parse_rfc3339

from .auth import bearer_token
from .request import UserInfo

log = logging.getLogger(__name__)
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
GROUP = "system:bootstrappers"
_EXTRA_GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")

GetSecret = Callable[[str, str], Awaitable[dict[str, Any] | None]]  # (namespace, name) → Secret or None


def _data(secret: Mapping[str, Any], key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return str((secret.get("stringData") or {}).get(key) or "")
    try:
        return base64.b64decode(raw).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def user_for_token(token: str, secret: Mapping[str, Any] | None, now: float) -> tuple[UserInfo | None, str]:
    """The user a bootstrap token stands for, or (None, why not) — pure, for tests and reuse."""
    m = TOKEN_RE.match(token)
    if not m:
        return None, "not a bootstrap token"
    tid, tsecret = m.groups()
    if secret is None:
        return None, f"secret kube-system/bootstrap-token-{tid} not found"
    if (secret.get("metadata") or {}).get("deletionTimestamp"):
        return None, "the token's secret is being deleted"
    if secret.get("type") != SECRET_TYPE:
        return None, f"secret has type {secret.get('type')!r}, not {SECRET_TYPE}"
    if not hmac.compare_digest(_data(secret, "token-secret").encode(), tsecret.encode()):
        return None, "token secret does not match"
    if _data(secret, "token-id") and _data(secret, "token-id") != tid:
        return None, "token id does not match"
    exp = _data(secret, "expiration")
    if exp:
        try:
            if parse_rfc3339(exp) <= now:
                return None, f"token expired at {exp}"
        except ValueError:
            return None, f"invalid expiration {exp!r}"
    if _data(secret, "usage-bootstrap-authentication") != "true":
        return None, "token is not allowed for authentication"
    extra = [g.strip() for g in _data(secret, "auth-extra-groups").split(",") if g.strip()]
    for g in extra:
        if not _EXTRA_GROUP_RE.match(g):
            return None, f"invalid auth-extra-groups entry {g!r}"
    groups = [GROUP] + [g for g in extra if g != GROUP]
    return UserInfo(f"system:bootstrap:{tid}", tuple(groups) + ("system:authenticated",)), ""


class BootstrapTokenAuthenticator:
    """An `Authenticator` (see auth.py) over the bootstrap-token Secrets in kube-system."""

    def __init__(self, get_secret: GetSecret, clock: Callable[[], float] = time.time):
        self.get_secret = get_secret
        self.clock = clock

    async def __call__(self, headers: Mapping[str, str], peercert: dict[str, Any] | None) -> UserInfo | None:
        token = bearer_token(headers)
        if not token:
            return None
        m = TOKEN_RE.match(token)
        if not m:
            return None
        secret = await self.get_secret("kube-system", f"bootstrap-token-{m.group(1)}")
        user, why = user_for_token(token, secret, self.clock())
        if user is None:
            log.info("bootstrap token %s refused: %s", m.group(1), why)
            raise errors.unauthorized()
        return user


def registry_secret_getter(registry: Any) -> GetSecret:
    """A `GetSecret` over the API server's registry (no HTTP, no authorization)."""
    rt = registry.scheme.get("", "v1", "secrets")

    async def get(namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await registry.get(rt, namespace, name)
            return obj
        except errors.ApiError as e:
            if e.code == 404:
                return None
            raise

    return get
