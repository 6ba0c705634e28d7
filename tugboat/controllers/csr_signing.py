"""csrsigning: issue the certificates of approved CSRs with the cluster CA.

Upstream 1.32 pkg/controller/certificates/signer, for the two client signers a node join needs:
`kubernetes.io/kube-apiserver-client-kubelet` (the request must be a valid kubelet client
request, else the CSR gets a Failed/SignerValidationFailure condition) and
`kubernetes.io/kube-apiserver-client`. A CSR is signed once: approved, not denied or failed,
no certificate yet. The certificate keeps the request's subject (CN = user, O = groups, which
is what the API server's x509 authenticator reads), is backdated 5 minutes for clock skew and
lives `cluster_signing_duration` (upstream 1 year) or `spec.expirationSeconds` if shorter,
never past the CA itself. Options (`csrsigning` in the manager's options, `tug components`
passes the server's CA): cluster_signing_cert_file, cluster_signing_key_file,
cluster_signing_duration (seconds). Without a CA key the controller signs nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tugboat.client import is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.controllers.csr_util import (
    KUBELET_CLIENT_SIGNER,
    has_condition,
    kubelet_client_errors,
    parse_request,
    with_condition,
)
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
SIGNERS = (KUBELET_CLIENT_SIGNER, CLIENT_SIGNER)
DEFAULT_DURATION = 365 * 24 * 3600.0
BACKDATE = dt.timedelta(minutes=5)
_CLIENT_USAGES = {"digital signature", "key encipherment", "client auth"}
_EKU = {"client auth": ExtendedKeyUsageOID.CLIENT_AUTH, "server auth": ExtendedKeyUsageOID.SERVER_AUTH}


def key_usage(usages: list[str]) -> x509.KeyUsage:
    u = set(usages)
    return x509.KeyUsage(digital_signature="digital signature" in u, content_commitment="content commitment" in u,
                         key_encipherment="key encipherment" in u, data_encipherment="data encipherment" in u,
                         key_agreement="key agreement" in u, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def sign(csr: Obj, ca_cert: x509.Certificate, ca_key: Any, duration: float, now: dt.datetime) -> bytes:
    """The PEM certificate for an approved CSR object (ValueError if the request is unusable)."""
    spec = csr.get("spec") or {}
    req = parse_request(csr)
    usages = list(spec.get("usages") or [])
    ttl = float(duration)
    if spec.get("expirationSeconds"):
        ttl = min(ttl, float(spec["expirationSeconds"]))
    not_after = min(now + dt.timedelta(seconds=ttl), ca_cert.not_valid_after_utc)
    b = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca_cert.subject)
         .public_key(req.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - BACKDATE).not_valid_after(not_after)
         .add_extension(key_usage(usages), critical=True)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    ekus = [_EKU[u] for u in usages if u in _EKU]
    if ekus:
        b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                        critical=False)
    return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def signer_errors(csr: Obj) -> list[str]:
    spec = csr.get("spec") or {}
    usages = list(spec.get("usages") or [])
    try:
        req = parse_request(csr)
    except ValueError as e:
        return [f"unable to parse csr: {e}"]
    if spec.get("signerName") == KUBELET_CLIENT_SIGNER:
        return kubelet_client_errors(req, usages)
    bad = sorted(set(usages) - _CLIENT_USAGES)
    return [f"invalid usage for client certificate: {u}" for u in bad]


@register
class CsrSigningController(BaseController):
    name = "csrsigning"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.csr_rt = ctx.rt("certificates.k8s.io", "v1", "certificatesigningrequests")
        opts = (ctx.options or {}).get(self.name) or {}
        self.duration = float(opts.get("cluster_signing_duration") or DEFAULT_DURATION)
        self.ca_cert: x509.Certificate | None = None
        self.ca_key: Any = None
        cert_file, key_file = opts.get("cluster_signing_cert_file"), opts.get("cluster_signing_key_file")
        if cert_file and key_file:
            with open(cert_file, "rb") as f:
                self.ca_cert = x509.load_pem_x509_certificate(f.read())
            with open(key_file, "rb") as f:
                self.ca_key = serialization.load_pem_private_key(f.read(), None)
        else:
            log.info("csrsigning: no cluster signing certificate/key configured: not signing")

    def setup(self) -> None:
        self.csrs = self.ctx.informers.informer(self.csr_rt)
        self.csrs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))

    async def reconcile(self, key: str) -> float | None:
        csr = self.csrs.lister.get(key)
        if csr is None or self.ca_cert is None:
            return None
        spec, status = csr.get("spec") or {}, csr.get("status") or {}
        if spec.get("signerName") not in SIGNERS or status.get("certificate"):
            return None
        if not has_condition(csr, "Approved") or has_condition(csr, "Denied") or has_condition(csr, "Failed"):
            return None
        now = dt.datetime.fromtimestamp(self.ctx.clock.time(), dt.UTC)
        errs = signer_errors(csr)
        if errs:
            out = with_condition(csr, "Failed", "SignerValidationFailure", "; ".join(errs), rfc3339(now.timestamp()))
        else:
            out = dict(csr)
            pem = sign(csr, self.ca_cert, self.ca_key, self.duration, now)
            out["status"] = {**status, "certificate": base64.b64encode(pem).decode()}
        try:
            await self.client.update_status(self.csr_rt, out)
        except ApiStatusError as e:
            if is_not_found(e):
                return None
            raise
        log.info("CSR %s: %s", key, "failed: " + "; ".join(errs) if errs else "certificate issued")
        return None
