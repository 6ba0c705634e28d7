"""Who may talk to the agent's server: TLS with a client certificate from the cluster CA.

Like a kubelet with `--client-ca-file` and anonymous auth off: the TLS handshake fails
without a client certificate signed by the cluster CA (the CA the agent already trusts for
the API server — its kubeconfig's `certificate-authority-data`), and a verified certificate is
then authorized by identity: the API server's kubelet-client user (`kube-apiserver-kubelet-client`,
what the API server presents) or anyone in `system:masters`. Other cluster identities (another
node, a controller) get 403 — upstream would ask the API server with a SubjectAccessReview for
`nodes/proxy`; we allow the fixed set instead.

The serving certificate is self-signed and kept in DATA_DIR/pki (kubelet's default when no
`--tls-cert-file` is given); the API server does not verify it unless given a CA for it, as
upstream's apiserver without `--kubelet-certificate-authority`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tugboat.node.server.util import status_response

ALLOWED_USERS = frozenset({"kube-apiserver-kubelet-client", "system:kube-apiserver"})
ALLOWED_GROUPS = frozenset({"system:masters"})


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
    """TLS server context that requires a client certificate from the given CA."""
    if not client_ca_pem and not client_ca_file:
        raise ValueError("the agent server needs a client CA: it never serves anonymous clients")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_pem:
        ctx.load_verify_locations(cadata=client_ca_pem.decode())
    if client_ca_file:
        ctx.load_verify_locations(cafile=client_ca_file)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def ssl_context_for_agent(client_config: Any, data_dir: str, node_name: str, ips: list[str]) -> ssl.SSLContext:
    """The usual setup: serving cert in DATA_DIR/pki, client CA = the CA of the agent's kubeconfig."""
    crt, key = ensure_serving_cert(os.path.join(data_dir, "pki"), node_name, ips)
    return server_ssl_context(crt, key, client_ca_pem=getattr(client_config, "ca_data", None),
                              client_ca_file=getattr(client_config, "ca_file", None))


def peer_identity(request: web.Request) -> tuple[str, set[str]] | None:
    """(CN, {O…}) of the verified client certificate, None without one."""
    tr = request.transport
    cert = tr.get_extra_info("peercert") if tr is not None else None
    if not cert:
        return None
    cn, orgs = "", set()
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.add(v)
    return cn, orgs


@web.middleware
async def authorize(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    who = peer_identity(request)
    if who is None:
        return status_response(401, "Unauthorized", "Unauthorized")
    user, groups = who
    if user not in ALLOWED_USERS and not groups & ALLOWED_GROUPS:
        parts = request.path.strip("/").split("/")
        sub = {"containerLogs": "log"}.get(parts[0], "proxy") if parts else "proxy"
        return status_response(403, "Forbidden", f"Forbidden (user={user}, verb=get, resource=nodes, "
                                                 f"subresource={sub})")
    return await handler(request)
