"""The service-account signing key: RSA in PEM, RS256 signatures, upstream's key id and JWKS.

Generated once (2048-bit, mode 0600) when the key file does not exist, like kubeadm's
`sa.key`. The key id is upstream's: base64url(SHA-256(DER SubjectPublicKeyInfo)), so a token
header's `kid` finds its key in `/openid/v1/jwks`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class VerifyError(Exception):
    pass


class SigningKey:
    def __init__(self, private: rsa.RSAPrivateKey):
        self.private = private
        self.public = private.public_key()
        der = self.public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = b64url(hashlib.sha256(der).digest())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, path: str | Path) -> SigningKey:
        p = Path(path)
        if p.exists():
            key = serialization.load_pem_private_key(p.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{p}: the service-account key must be an RSA private key")
            return cls(key)
        out = cls.generate()
        pem = out.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = p.with_suffix(p.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, p)
        return out

    def jwk(self) -> dict[str, str]:
        nums = self.public.public_numbers()
        return {"use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256", "n": _uint(nums.n), "e": _uint(nums.e)}

    def sign(self, claims: dict[str, Any]) -> str:
        header = b64url(orjson.dumps({"alg": "RS256", "kid": self.kid}))
        payload = b64url(orjson.dumps(claims, option=orjson.OPT_SORT_KEYS))
        signing_input = f"{header}.{payload}".encode()
        sig = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{b64url(sig)}"


def peek_claims(token: str) -> dict[str, Any] | None:
    """The unverified claims of a JWT-shaped token, None when it is not one (cheap pre-check)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(b64url_decode(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def verify(token: str, keys: list[SigningKey]) -> dict[str, Any]:
    """The claims of a token signed (RS256) by one of `keys`; raises VerifyError otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise VerifyError("malformed token")
    try:
        header = orjson.loads(b64url_decode(parts[0]))
        sig = b64url_decode(parts[2])
        claims = orjson.loads(b64url_decode(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        raise VerifyError("malformed token") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise VerifyError("unsupported token algorithm")
    kid = header.get("kid")
    candidates = [k for k in keys if not kid or k.kid == kid]
    signing_input = f"{parts[0]}.{parts[1]}".encode()
    for k in candidates:
        try:
            k.public.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return claims
        except InvalidSignature:
            continue
    raise VerifyError("invalid signature")
