"""Claims of a bound service-account token, and their validation against live objects.

Upstream's private claims under `kubernetes.io` (namespace, serviceaccount, pod|secret|node,
warnafter) plus `jti`; validation order and error wording follow pkg/serviceaccount/claims.go
so TokenReview reports the same reasons. A token is invalid as soon as its service account or
bound object is gone, has another uid, or (pods, secrets) was deleted more than 60 s ago.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tugboat.api.errors import ApiError

from ..request import UserInfo
from .keys import SigningKey, VerifyError, peek_claims, verify

if TYPE_CHECKING:
    from ..context import Ctx
    from ..server import ApiServer

Obj = dict[str, Any]
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
EXTRA_KEY = "satoken"
CHAIN_KEY = "authenticators"
WARN_ONLY_EXPIRATION_SECONDS = 3607  # kubelet's projected-token request (upstream's marker)
EXPIRATION_EXTENSION_SECONDS = 365 * 24 * 3600
DELETED_POD_GRACE = 60.0


class TokenInvalid(Exception):
    pass


@dataclass
class TokenIssuer:
    key: SigningKey
    issuer: str = DEFAULT_ISSUER
    audiences: list[str] = field(default_factory=list)  # --api-audiences; empty = [issuer]
    max_expiration: int = 0  # --service-account-max-token-expiration seconds; 0 = none
    extend_expiration: bool = True  # --service-account-extend-token-expiration
    verify_keys: list[SigningKey] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.audiences:
            self.audiences = [self.issuer]
        if not self.verify_keys:
            self.verify_keys = [self.key]

    def claims(self, now: float, sa: Obj, *, pod: Obj | None = None, secret: Obj | None = None,
               node: Obj | None = None, expiration: int, warn_after: int, audiences: list[str]) -> Obj:
        meta = sa["metadata"]
        k8s: Obj = {"namespace": meta["namespace"], "serviceaccount": _ref(sa)}
        if pod is not None:
            k8s["pod"] = _ref(pod)
        elif secret is not None:
            k8s["secret"] = _ref(secret)
        if node is not None:
            k8s["node"] = _ref(node)
        if warn_after:
            k8s["warnafter"] = int(now) + warn_after
        return {"aud": list(audiences), "exp": int(now) + expiration, "iat": int(now), "iss": self.issuer,
                "jti": str(uuid.uuid4()), "kubernetes.io": k8s, "nbf": int(now),
                "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}"}

    def owns(self, token: str) -> bool:
        claims = peek_claims(token)
        return claims is not None and claims.get("iss") == self.issuer and "kubernetes.io" in claims

    async def authenticate(self, ctx: Ctx, token: str, audiences: list[str] | None = None) -> tuple[UserInfo, list[str]]:
        """The user a token proves (and the audiences it is good for); TokenInvalid otherwise."""
        try:
            claims = verify(token, self.verify_keys)
        except VerifyError as e:
            raise TokenInvalid(str(e)) from None
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token issuer is not trusted")
        targets = audiences or self.audiences
        aud = claims.get("aud")
        token_auds = [aud] if isinstance(aud, str) else list(aud or [])
        matched = [a for a in targets if a in token_auds]
        if not matched:
            raise TokenInvalid(f"token audiences {token_auds!r} is invalid for the target audiences {targets!r}")
        now = ctx.clock.time()
        if not isinstance(claims.get("exp"), int) or now >= claims["exp"]:
            raise TokenInvalid("service account token has expired")
        if isinstance(claims.get("nbf"), int) and now < claims["nbf"]:
            raise TokenInvalid("service account token is not valid yet")
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict):
            raise TokenInvalid("token could not be validated.")
        return await self._validate(ctx, claims, k8s), matched

    async def _validate(self, ctx: Ctx, claims: Obj, k8s: Obj) -> UserInfo:
        ns = k8s.get("namespace") or ""
        sa_ref = k8s.get("serviceaccount") or {}
        sa = await _get(ctx, "serviceaccounts", ns, sa_ref.get("name", ""))
        if sa is None:
            raise TokenInvalid("service account token has been invalidated")
        if sa["metadata"].get("uid") != sa_ref.get("uid"):
            raise TokenInvalid(f"service account UID ({sa['metadata'].get('uid')}) does not match claim "
                               f"({sa_ref.get('uid')})")
        extra: dict[str, list[str]] = {}
        now = ctx.clock.time()
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = k8s.get(kind)
            if not isinstance(ref, dict):
                continue
            obj = await _get(ctx, plural, ns, ref.get("name", ""))
            if obj is None or _deleted_before(obj, now - DELETED_POD_GRACE):
                raise TokenInvalid("service account token has been invalidated")
            if obj["metadata"].get("uid") != ref.get("uid"):
                what = "pod" if kind == "pod" else "secret"
                claim = "claim" if kind == "pod" else "service account secret ref claim"
                raise TokenInvalid(f"{what} UID ({obj['metadata'].get('uid')}) does not match {claim} ({ref.get('uid')})")
            if kind == "pod":
                extra["authentication.kubernetes.io/pod-name"] = [ref["name"]]
                extra["authentication.kubernetes.io/pod-uid"] = [ref["uid"]]
        node_ref = k8s.get("node")
        if isinstance(node_ref, dict):
            if "pod" not in k8s and "secret" not in k8s:  # node-bound: the node must still exist
                node = await _get(ctx, "nodes", "", node_ref.get("name", ""))
                if node is None:
                    raise TokenInvalid("service account token has been invalidated")
                if node["metadata"].get("uid") != node_ref.get("uid"):
                    raise TokenInvalid(f"node UID ({node['metadata'].get('uid')}) does not match claim "
                                       f"({node_ref.get('uid')})")
            extra["authentication.kubernetes.io/node-name"] = [node_ref.get("name", "")]
            extra["authentication.kubernetes.io/node-uid"] = [node_ref.get("uid", "")]
        if claims.get("jti"):
            extra["authentication.kubernetes.io/credential-id"] = [f"JTI={claims['jti']}"]
        name = sa["metadata"]["name"]
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated")
        return UserInfo(f"system:serviceaccount:{ns}:{name}", groups, sa["metadata"].get("uid", ""), extra)


def _ref(obj: Obj) -> dict[str, str]:
    return {"name": obj["metadata"]["name"], "uid": obj["metadata"].get("uid", "")}


def _deleted_before(obj: Obj, cutoff: float) -> bool:
    from tugboat.util.clock import parse_rfc3339

    ts = obj["metadata"].get("deletionTimestamp")
    return bool(ts) and parse_rfc3339(ts) < cutoff


async def _get(ctx: Ctx, plural: str, ns: str, name: str) -> Obj | None:
    rt = ctx.scheme.get("", "v1", plural)
    if rt is None or not name:
        return None
    try:
        return await ctx.registry.get(rt, ns, name)
    except ApiError as e:
        if e.code == 404:
            return None
        raise


class ServiceAccountAuthenticator:
    """The authenticator-chain member for bearer JWTs of this issuer (auth.Authenticator)."""

    def __init__(self, ctx: Ctx, issuer: TokenIssuer):
        self.ctx = ctx
        self.issuer = issuer

    async def __call__(self, headers: Any, peercert: Any) -> UserInfo | None:
        from ..auth import bearer_token

        token = bearer_token(headers)
        if not token or not self.issuer.owns(token):
            return None
        try:
            user, _ = await self.issuer.authenticate(self.ctx, token)
        except TokenInvalid:
            raise ApiError(401, "Unauthorized", "Unauthorized") from None
        return user


def install(server: ApiServer, key_file: str | Path | None = None, *, key: SigningKey | None = None,
            issuer: str = DEFAULT_ISSUER, audiences: list[str] | None = None, max_expiration: int = 0,
            extend_expiration: bool = True) -> TokenIssuer:
    """Switch service-account tokens on: TokenRequest, TokenReview, discovery, authentication."""
    if key is None:
        if key_file is None:
            raise ValueError("install needs key_file or key")
        key = SigningKey.load_or_create(key_file)
    iss = TokenIssuer(key, issuer, list(audiences or []), max_expiration, extend_expiration)
    server.ctx.extras[EXTRA_KEY] = iss
    server.ctx.extras[CHAIN_KEY] = server.authenticators  # TokenReview answers for any bearer token
    server.authenticators.append(ServiceAccountAuthenticator(server.ctx, iss))
    return iss
