"""A real HTTPS admission webhook for tests: aiohttp on 127.0.0.1 with a cert from a fresh test CA.

`handler(request_obj) -> response fields` decides; the server wraps it in an AdmissionReview
response with the request's uid. `reviews` records every AdmissionReview received.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _cert(subject: str, issuer_key: Any, issuer: x509.Name | None, key: Any, *, ca: bool,
          sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@dataclass
class Webhook:
    port: int
    ca_bundle: str  # base64 PEM, as clientConfig.caBundle wants it
    reviews: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@contextlib.asynccontextmanager
async def webhook_server(routes: dict[str, Handler]) -> AsyncIterator[Webhook]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-webhook-ca", ca_key, None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("webhook", ca_key, ca.subject, key, ca=False, sans=[
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("webhook.default.svc")])
    with tempfile.TemporaryDirectory(prefix="tug-webhook-") as d:
        crt_path, key_path = Path(d, "tls.crt"), Path(d, "tls.key")
        crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt_path), str(key_path))
        hook = Webhook(0, base64.b64encode(ca.public_bytes(serialization.Encoding.PEM)).decode())

        def make(fn: Handler) -> Any:
            async def serve(request: web.Request) -> web.Response:
                review = await request.json()
                hook.reviews.append(review)
                resp = {"uid": review["request"]["uid"], **fn(review["request"])}
                return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                          "response": resp})
            return serve
        app = web.Application()
        for path, fn in routes.items():
            app.router.add_post(path, make(fn))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        hook.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield hook
        finally:
            await runner.cleanup()
