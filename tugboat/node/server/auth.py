"""Who may talk to the agent's server, and what they may do there (the kubelet's :10250 auth).

Like a kubelet with `--client-ca-file`, `--anonymous-auth=false`,
`--authentication-token-webhook` and `--authorization-mode=Webhook`:
- a caller proves who it is with a client certificate signed by the cluster CA (the CA the
  agent already trusts for the API server — its kubeconfig's `certificate-authority-data`;
  CN = user, O = groups) or with a bearer token (header, or the WebSocket
  `base64url.bearer.authorization.k8s.io.` subprotocol), which the API server checks in a
  TokenReview; neither → 401;
- then every request is authorized by the API server with a SubjectAccessReview: verb from the
  HTTP method, resource `nodes`, name = this node, subresource from the path exactly as the
  kubelet maps it (`/stats` → stats, `/metrics` → metrics, `/logs` → log, `/checkpoint` →
  checkpoint, everything else — exec, attach, portforward, run, containerLogs — proxy); deny → 403.
The API server's own identity (`kube-apiserver-kubelet-client`) passes through RBAC like anyone
else: kubeadm's `kubeadm:apiserver-kubelet-client` binding gives it `system:kubelet-api-admin`.
Reviews are cached (webhook.py).

The serving certificate is self-signed and kept in DATA_DIR/pki (kubelet's default when no
`--tls-cert-file` is given); the API server does not verify it unless given a CA for it, as
upstream's apiserver without `--kubelet-certificate-authority`.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tugboat.node.server.util import AGENT, status_response
from tugboat.node.server.webhook import Caller, ReviewError, WebhookAuth

log = logging.getLogger(__name__)
AUTH: web.AppKey[WebhookAuth] = web.AppKey("tugboat.agent.auth", WebhookAuth)
WS_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."
_VERBS = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_SUBRESOURCES = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/checkpoint", "checkpoint"))


def ensure_serving_cert(pki_dir: str, node_name: str, ips: list[str]) -> tuple[str, str]:
    """A self-signed serving certificate for this node (created once); (cert file, key file)."""
    crt, key = os.path.join(pki_dir, "agent.crt"), os.path.join(pki_dir, "agent.key")
    if os.path.exists(crt) and os.path.exists(key):
        return crt, key
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    k = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@{int(now.timestamp())}")])
    alt: list[x509.GeneralName] = [x509.DNSName(node_name or "localhost"), x509.DNSName("localhost")]
    alt += [x509.IPAddress(ipaddress.ip_address(i)) for i in {"127.0.0.1", *ips} if i]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(k, hashes.SHA256()))
    for path, data in ((key, k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())),
                       (crt, cert.public_bytes(serialization.Encoding.PEM))):
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    return crt, key


def server_ssl_context(cert_file: str, key_file: str, *, client_ca_pem: bytes | None = None,
                       client_ca_file: str | None = None) -> ssl.SSLContext:
    """TLS server context that verifies client certificates against the given CA.

    A certificate is optional at the TLS layer (bearer tokens are the other way in); one that
    is presented must chain to the CA, and a caller with neither gets 401 (see `authorize`)."""
    if not client_ca_pem and not client_ca_file:
        raise ValueError("the agent server needs a client CA to verify client certificates")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_pem:
        ctx.load_verify_locations(cadata=client_ca_pem.decode())
    if client_ca_file:
        ctx.load_verify_locations(cafile=client_ca_file)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def ssl_context_for_agent(client_config: Any, data_dir: str, node_name: str, ips: list[str]) -> ssl.SSLContext:
    """The usual setup: serving cert in DATA_DIR/pki, client CA = the CA of the agent's kubeconfig."""
    crt, key = ensure_serving_cert(os.path.join(data_dir, "pki"), node_name, ips)
    return server_ssl_context(crt, key, client_ca_pem=getattr(client_config, "ca_data", None),
                              client_ca_file=getattr(client_config, "ca_file", None))


def peer_identity(request: web.Request) -> tuple[str, list[str]] | None:
    """(CN, [O…]) of the verified client certificate, None without one."""
    tr = request.transport
    cert = tr.get_extra_info("peercert") if tr is not None else None
    if not cert:
        return None
    cn, orgs = "", []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    return cn, orgs


def bearer_token(request: web.Request) -> str | None:
    """The bearer token of the Authorization header or of a WebSocket subprotocol."""
    h = request.headers.get("Authorization", "")
    if h[:7].lower() == "bearer " and h[7:].strip():
        return h[7:].strip()
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith(WS_TOKEN_PREFIX):
            enc = proto[len(WS_TOKEN_PREFIX):]
            try:
                tok = base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)).decode()
            except ValueError:
                return None
            return tok or None
    return None


def request_attributes(method: str, path: str) -> tuple[str, str]:
    """(verb, subresource of `nodes`) for a request, as the kubelet maps them."""
    verb = _VERBS.get(method, "")
    for prefix, sub in _SUBRESOURCES:
        if path == prefix or path.startswith(prefix + "/"):
            return verb, sub
    return verb, "proxy"


async def authenticate(request: web.Request, auth: WebhookAuth) -> Caller | None:
    who = peer_identity(request)
    if who is not None:
        user = Caller(who[0], tuple(who[1]))
    else:
        token = bearer_token(request)
        if token is None:
            return None
        found = await auth.authenticate_token(token)
        if found is None:
            return None
        user = found
    if "system:authenticated" not in user.groups:
        user = Caller(user.name, (*user.groups, "system:authenticated"), user.uid, user.extra)
    return user


@web.middleware
async def authorize(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    auth = request.app[AUTH]
    try:
        user = await authenticate(request, auth)
    except ReviewError as e:
        log.warning("agent server: unable to authenticate the request: %s", e)
        user = None
    if user is None:
        return status_response(401, "Unauthorized", "Unauthorized")
    verb, sub = request_attributes(request.method, request.path)
    what = f"user={user.name}, verb={verb}, resource=nodes, subresource={sub}"
    try:
        allowed, _ = await auth.authorize(user, verb, str(getattr(request.app[AGENT], "node_name", "")), sub)
    except ReviewError as e:
        log.warning("agent server: authorization error (%s): %s", what, e)
        return status_response(500, "InternalError", f"Authorization error ({what})")
    if not allowed:
        return status_response(403, "Forbidden", f"Forbidden ({what})")
    return await handler(request)
