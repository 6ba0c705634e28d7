"""Service-account tokens: RS256 JWTs issued through TokenRequest and checked on every request.

Why here, inside the API server: issuing needs the private key and the bound objects (pod,
secret, node) must be looked up live so deleting them revokes the token — the same split as
upstream (pkg/serviceaccount + the serviceaccounts/token REST). `install()` switches it on for
an `ApiServer`: a signing key, the issuer, the API audiences and the authenticator.
"""

from __future__ import annotations

from .issuer import DEFAULT_ISSUER, TokenIssuer, install
from .keys import SigningKey

__all__ = ["DEFAULT_ISSUER", "SigningKey", "TokenIssuer", "install"]
