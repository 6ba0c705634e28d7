"""The node agent's projected serviceAccountToken source: TokenRequest bound to the pod, cached,
refreshed like the kubelet's token manager.

Why a cache: a pod's volumes are rewritten on every sync (at least once a minute); asking the
API server for a token each time would mint thousands of JWTs. A cached token is replaced
when it has passed 80 % of its life, or 24 h since issue (plus up to 10 s of jitter so a
node's pods do not refresh at once). If a refresh fails while the old token is still valid,
the old one keeps being served (the kubelet does the same). Entries of a pod are dropped when
its volumes are torn down.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol

from tugboat.node.envvars import ConfigError
from tugboat.util.clock import parse_rfc3339

log = logging.getLogger(__name__)
MAX_TTL = 24 * 3600.0
MAX_JITTER = 10.0
DEFAULT_EXPIRATION = 3600


class Requester(Protocol):
    async def request(self, method: str, path: str, *, body: Any = None) -> Any: ...


class TokenError(ConfigError):
    """No usable token: the pod's volume setup fails (FailedMount) and is retried."""


@dataclass
class CachedToken:
    token: str
    expiration_seconds: int
    expires: float  # status.expirationTimestamp
    pod_uid: str


class TokenManager:
    def __init__(self, client: Requester, clock: Any, *, jitter: float = MAX_JITTER):
        self.client = client
        self.clock = clock
        self.jitter = jitter
        self.cache: dict[tuple[Any, ...], CachedToken] = {}

    async def token(self, pod: dict[str, Any], projection: dict[str, Any]) -> bytes:
        """The token file content for one `serviceAccountToken` projection of `pod`."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ns, sa = meta.get("namespace", ""), spec.get("serviceAccountName") or "default"
        audiences = [projection["audience"]] if projection.get("audience") else []
        exp = int(projection.get("expirationSeconds") or DEFAULT_EXPIRATION)
        ref = {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name", ""), "uid": meta.get("uid", "")}
        key = (ns, sa, tuple(audiences), exp, ref["name"], ref["uid"])
        cached = self.cache.get(key)
        if cached is not None and not self.requires_refresh(cached):
            return cached.token.encode()
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": audiences, "expirationSeconds": exp, "boundObjectRef": ref}}
        try:
            res = await self.client.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", body=body)
            status = res.get("status") or {}
            got = CachedToken(status["token"], int((res.get("spec") or {}).get("expirationSeconds") or exp),
                              parse_rfc3339(status["expirationTimestamp"]), ref["uid"])
        except Exception as e:  # noqa: BLE001 - any failure: fall back to a still-valid token
            if cached is None:
                raise TokenError(f"failed to fetch token: {e}") from e
            if self.clock.time() >= cached.expires:
                raise TokenError(f"token {ns}/{sa} expired and refresh failed: {e}") from e
            log.warning("couldn't update token %s/%s for pod %s: %s", ns, sa, ref["name"], e)
            return cached.token.encode()
        self.cache[key] = got
        return got.token.encode()

    def requires_refresh(self, c: CachedToken) -> bool:
        now = self.clock.time()
        issued = c.expires - c.expiration_seconds
        jitter = random.random() * self.jitter
        if now > issued + MAX_TTL - jitter:
            return True
        return now > c.expires - c.expiration_seconds * 0.2 - jitter

    def forget_pod(self, uid: str) -> None:
        for k in [k for k, v in self.cache.items() if v.pod_uid == uid]:
            del self.cache[k]

    def collect_expired(self) -> None:
        now = self.clock.time()
        for k in [k for k, v in self.cache.items() if now >= v.expires]:
            del self.cache[k]
