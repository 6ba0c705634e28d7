"""Bearer tokens carried in a WebSocket subprotocol (upstream's websocket protocol authenticator).

Why: browsers cannot set an Authorization header on a WebSocket, so upstream accepts the token
as the subprotocol `base64url.bearer.authorization.k8s.io.<base64url(token), no padding>` on
upgrade requests. The decoded token is checked by the rest of the chain exactly as if it had
come in an `Authorization: Bearer` header, so static, bootstrap and service-account tokens
all work. The proxy never forwards this subprotocol to the node (proxy_ws.offered_protocols).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tugboat.api import errors

from .auth import Authenticator
from .request import UserInfo

PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io."


def protocol_token(headers: Mapping[str, str]) -> str | None:
    """The token of the bearer subprotocol of a WebSocket upgrade, None if it has none.

    Raises 401 for a malformed one (empty, not base64url), like upstream."""
    if headers.get("Upgrade", "").lower() != "websocket":
        return None
    for proto in headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if not proto.startswith(PROTOCOL_PREFIX):
            continue
        enc = proto[len(PROTOCOL_PREFIX):]
        try:
            token = base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            token = ""
        if not token or any(c in token for c in "\r\n "):
            raise errors.unauthorized()
        return token
    return None


class WebSocketProtocolAuthenticator:
    """Delegates the subprotocol's token to the header-based authenticators of the chain."""

    def __init__(self, chain: Callable[[], Sequence[Authenticator]]):
        self.chain = chain

    async def __call__(self, headers: Mapping[str, str], peercert: dict[str, Any] | None) -> UserInfo | None:
        token = protocol_token(headers)
        if token is None:
            return None
        synthetic = {"Authorization": f"Bearer {token}"}
        for authn in self.chain():
            if authn is self:
                continue
            user = await authn(synthetic, None)
            if user is not None:
                return user
        return None
