"""A minimal Docker registry token server (the Bearer flow's "realm"), for tests.

docker-registry's `auth: token` verifies ES256 JWTs whose `x5c` header chains to its
`rootcertbundle`; this issues them for users checked by HTTP Basic auth, granting the scope
asked for (anonymous callers get a token with no access, as Docker Hub's auth does).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _cert(tmp: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tugboat-test-token")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp / "token-root.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _jwt(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, claims: dict[str, Any]) -> str:
    header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


async def start_token_server(tmp: Path, users: dict[str, str]) -> tuple[web.AppRunner, str]:
    key, cert = _cert(tmp)
    issued: list[str] = []

    async def token(request: web.Request) -> web.Response:
        who = ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
            if users.get(user) != pw:
                return web.json_response({"details": "incorrect username or password"}, status=401)
            who = user
        access = []
        for scope in request.query.getall("scope", []):
            typ, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if who:
                access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        tok = _jwt(key, cert, {"iss": "tugboat-test-issuer", "sub": who, "aud": request.query.get("service", ""),
                               "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                               "access": access})
        issued.append(who)
        return web.json_response({"token": tok, "expires_in": 300})

    app = web.Application()
    app.router.add_get("/token", token)
    app["issued"] = issued
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/token"
