"""What the CSR approver and signer both need: parse a CSR object's request, recognise a
kubelet client request, read and add conditions. (Controllers never import each other; both
import this.)

`kubelet_client_errors` follows upstream 1.32 ValidateKubeletClientCSR: organization exactly
`system:nodes`, no DNS/email/IP/URI SANs, common name `system:node:<name>`, usages exactly
{digital signature, client auth} (plus key encipherment for RSA keys).
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
NODE_PREFIX = "system:node:"
_USAGE_SETS = ({"digital signature", "client auth"}, {"key encipherment", "digital signature", "client auth"})

Obj = dict[str, Any]


def parse_request(csr: Obj) -> x509.CertificateSigningRequest:
    """The x509 request of a CSR object; ValueError when it does not parse or is not signed
    by its own key."""
    raw = base64.b64decode((csr.get("spec") or {}).get("request") or "")
    req = x509.load_pem_x509_csr(raw)
    if not req.is_signature_valid:
        raise ValueError("the request's signature does not verify")
    return req


def _attrs(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def common_name(req: x509.CertificateSigningRequest) -> str:
    cns = _attrs(req.subject, NameOID.COMMON_NAME)
    return cns[0] if cns else ""


def kubelet_client_errors(req: x509.CertificateSigningRequest, usages: list[str]) -> list[str]:
    errs = []
    if _attrs(req.subject, NameOID.ORGANIZATION_NAME) != ["system:nodes"]:
        errs.append('subject organization is not system:nodes')
    try:
        san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind, what in ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"), (x509.IPAddress, "IP"),
                           (x509.UniformResourceIdentifier, "URI")):
            if san.get_values_for_type(kind):  # type: ignore[arg-type]
                errs.append(f"{what} subjectAltNames are not allowed")
    except x509.ExtensionNotFound:
        pass
    cn = common_name(req)
    if not cn.startswith(NODE_PREFIX):
        errs.append("subject common name does not begin with system:node:")
    elif len(cn) == len(NODE_PREFIX):
        errs.append("subject common name does not include a node name")
    if set(usages) not in _USAGE_SETS or len(set(usages)) != len(usages):
        errs.append(f"usages did not match [client auth digital signature]: {sorted(usages)}")
    return errs


def conditions(csr: Obj) -> list[Obj]:
    return [c for c in (csr.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]


def has_condition(csr: Obj, typ: str) -> bool:
    return any(c.get("type") == typ and c.get("status", "True") == "True" for c in conditions(csr))


def with_condition(csr: Obj, typ: str, reason: str, message: str, now: str) -> Obj:
    """A copy of `csr` with one more True condition."""
    out = dict(csr)
    status = dict(out.get("status") or {})
    status["conditions"] = conditions(csr) + [{"type": typ, "status": "True", "reason": reason, "message": message,
                                               "lastUpdateTime": now, "lastTransitionTime": now}]
    out["status"] = status
    return out
