"""Service-account issuer discovery: `/.well-known/openid-configuration` and `/openid/v1/jwks`.

Lets outside parties (cloud IAM, Vault) verify our tokens offline, like upstream. The JWKS URI
is `https://<external address>/openid/v1/jwks` unless configured (upstream's default too).
"""

from __future__ import annotations

import orjson

from ..context import Ctx
from ..request import Resp
from .issuer import EXTRA_KEY

PATHS = ("/.well-known/openid-configuration", "/openid/v1/jwks")


def handle(ctx: Ctx, path: str) -> Resp | None:
    """The response for one of PATHS, None when tokens are not configured (→ 404)."""
    iss = ctx.extras.get(EXTRA_KEY)
    if iss is None:
        return None
    headers = {"Cache-Control": "public, max-age=3600"}
    if path == PATHS[0]:
        doc = {"issuer": iss.issuer, "jwks_uri": f"https://{ctx.config.external_address}/openid/v1/jwks",
               "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
               "id_token_signing_alg_values_supported": ["RS256"]}
        return Resp(200, orjson.dumps(doc), "application/json", headers)
    keys = [k.jwk() for k in iss.verify_keys]
    return Resp(200, orjson.dumps({"keys": keys}), "application/jwk-set+json", headers)
