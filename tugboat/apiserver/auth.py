"""Authentication (a chain of authenticators) and the authorizer interface.

Authentication is a list of `Authenticator`s tried in order (x509 client certificates: CN =
user, O = groups; static bearer tokens; bootstrap and service-account tokens plug in the same
way); the first that recognises the request wins, a request nobody recognises is anonymous.
The authorizer is an interface so RBAC can replace `AllowAuthenticated`; anonymous requests
only reach health and version endpoints (401 elsewhere), like a hardened upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tugboat.api.errors import ApiError

from .request import ANONYMOUS, Req, UserInfo


def user_from_peercert(cert: dict[str, Any] | None) -> UserInfo:
    if not cert:
        return ANONYMOUS
    cn, orgs = "", []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    if not cn:
        return ANONYMOUS
    return UserInfo(cn, tuple(orgs) + ("system:authenticated",))


class Authenticator(Protocol):
    async def __call__(self, headers: Mapping[str, str], peercert: dict[str, Any] | None) -> UserInfo | None:
        """The user the request proves to be, or None when this authenticator does not apply.

        Raise ApiError 401 for a credential this authenticator owns but rejects (expired, revoked)."""


class CertAuthenticator:
    async def __call__(self, headers: Mapping[str, str], peercert: dict[str, Any] | None) -> UserInfo | None:
        user = user_from_peercert(peercert)
        return user if user.authenticated else None


class StaticTokenAuthenticator:
    def __init__(self, tokens: dict[str, UserInfo]):
        self.tokens = tokens

    async def __call__(self, headers: Mapping[str, str], peercert: dict[str, Any] | None) -> UserInfo | None:
        return user_from_bearer(headers.get("Authorization"), self.tokens)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, None if there is none."""
    header = headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Authorizer(Protocol):
    async def authorize(self, req: Req) -> None:
        """Raise ApiError 403 when `req.user` may not do `req.info`."""


def is_public_cluster_info(req: Req) -> bool:
    """GET kube-public/configmaps/cluster-info: the CA a joining node reads before it trusts
    anything (kubeadm binds role kubeadm:bootstrap-signer-clusterinfo to system:anonymous)."""
    i = req.info
    return (i.verb == "get" and i.group == "" and i.resource == "configmaps" and i.namespace == "kube-public"
            and i.name == "cluster-info" and not i.subresource)


class AllowAuthenticated:
    async def authorize(self, req: Req) -> None:
        if not req.user.authenticated and not is_public_cluster_info(req):
            raise ApiError(401, "Unauthorized", "Unauthorized")


def load_token_file(path: str) -> dict[str, UserInfo]:
    """Upstream's `--token-auth-file` CSV: `token,user,uid[,"group1,group2"]` per line."""
    import csv

    tokens: dict[str, UserInfo] = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}: a line needs at least token,user,uid")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tokens[row[0].strip()] = UserInfo(row[1].strip(), groups + ("system:authenticated",))
    return tokens


def user_from_bearer(header: str | None, tokens: dict[str, UserInfo]) -> UserInfo | None:
    """The user of an `Authorization: Bearer <token>` header, None if absent or unknown."""
    if not header or not tokens:
        return None
    token = bearer_token({"Authorization": header})
    return tokens.get(token) if token else None
