"""certificates.k8s.io/v1 CertificateSigningRequest: upstream 1.32 strategy and validation.

A CSR is how a node (or anyone) gets a client certificate from the cluster CA without ever
seeing the CA key: the requester posts a PKCS#10 request, an approver adds an `Approved`
condition through the `approval` subresource, a signer fills `status.certificate` through
`status`. Each path may change only its part, as upstream's three strategies:
- main resource: spec is immutable after create, status is ignored;
- `/approval`: only `status.conditions` (spec and certificate kept from the stored object);
- `/status`: status only, but Approved/Denied may be neither added nor removed there.
The requester's identity (spec.username/uid/groups/extra) is set by the API server at create
(apiserver/csr_admission.py), never trusted from the body.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any

from ..errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from ..strategy import Strategy, register
from .core_common import as_dict, as_list

Obj = dict[str, Any]

KEY_USAGES = ("signing", "digital signature", "content commitment", "key encipherment", "key agreement",
              "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
              "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
              "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")
MIN_EXPIRATION_SECONDS = 600
_SIGNER_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[A-Za-z0-9._~%!$&'()*+,;=:@-]+$")
_PEM_RE = re.compile(rb"-----BEGIN ([A-Z ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----")
_ONCE = ("Approved", "Denied", "Failed")


def _pem_types(raw_b64: Any) -> list[str] | None:
    """The PEM block types in a base64 `[]byte` field (None when not base64)."""
    if not isinstance(raw_b64, str):
        return None
    try:
        data = base64.b64decode(raw_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return [m.group(1).decode() for m in _PEM_RE.finditer(data)]


def validate_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    req = spec.get("request")
    if not req:
        errs.append(required("spec.request", ""))
    elif _pem_types(req) != ["CERTIFICATE REQUEST"]:
        errs.append(invalid("spec.request", "<request>", "PEM block type must be CERTIFICATE REQUEST"))
    signer = spec.get("signerName")
    if not signer:
        errs.append(required("spec.signerName", ""))
    elif not isinstance(signer, str) or not _SIGNER_RE.match(signer):
        errs.append(invalid("spec.signerName", signer, "must be a fully qualified domain and path of the form "
                            "'example.com/signer-name'"))
    exp = spec.get("expirationSeconds")
    if exp is not None and (not isinstance(exp, int) or exp < MIN_EXPIRATION_SECONDS):
        errs.append(invalid("spec.expirationSeconds", exp, "may not specify a duration less than 600 seconds "
                            "(10 minutes)"))
    usages = as_list(spec.get("usages"))
    if not usages:
        errs.append(required("spec.usages", ""))
    seen: set[str] = set()
    for i, u in enumerate(usages):
        if u not in KEY_USAGES:
            errs.append(not_supported(f"spec.usages[{i}]", u, list(KEY_USAGES)))
        elif u in seen:
            errs.append(duplicate(f"spec.usages[{i}]", u))
        seen.add(u)
    return errs


def validate_conditions(status: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    types: set[str] = set()
    for i, c in enumerate(as_list(status.get("conditions"))):
        c = as_dict(c)
        p = f"status.conditions[{i}]"
        t = c.get("type")
        if not t:
            errs.append(required(f"{p}.type", ""))
            continue
        if t in _ONCE:
            if t in types:
                errs.append(duplicate(f"{p}.type", t))
            if c.get("status") != "True":
                errs.append(not_supported(f"{p}.status", c.get("status"), ["True"]))
        elif c.get("status") not in ("True", "False", "Unknown"):
            errs.append(not_supported(f"{p}.status", c.get("status"), ["False", "True", "Unknown"]))
        types.add(str(t))
        if "Approved" in types and "Denied" in types and t in ("Approved", "Denied"):
            errs.append(invalid(f"{p}.type", t, "Approved and Denied conditions are mutually exclusive"))
    cert = status.get("certificate")
    if cert:
        kinds = _pem_types(cert)
        if not kinds or any(k != "CERTIFICATE" for k in kinds):
            errs.append(invalid("status.certificate", "<certificate data>", "must contain at least one "
                                "CERTIFICATE PEM block"))
    return errs


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _stamp_conditions(new: Obj, old: Obj) -> None:
    """upstream populateConditionTimestamps: lastUpdateTime when unset; lastTransitionTime
    when unset or the status changed."""
    now = _now()
    old_by_type = {c.get("type"): c for c in as_list(as_dict(old.get("status")).get("conditions")) if isinstance(c, dict)}
    for c in as_list(as_dict(new.get("status")).get("conditions")):
        if not isinstance(c, dict):
            continue
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = now
        prev = old_by_type.get(c.get("type"))
        if not c.get("lastTransitionTime"):
            same = prev is not None and prev.get("status") == c.get("status") and prev.get("lastTransitionTime")
            c["lastTransitionTime"] = prev["lastTransitionTime"] if same and prev else now


def _types(obj: Obj) -> set[str]:
    return {str(c.get("type")) for c in as_list(as_dict(obj.get("status")).get("conditions")) if isinstance(c, dict)}


class CsrStrategy(Strategy):
    group, kind, namespaced, has_status = "certificates.k8s.io", "CertificateSigningRequest", False, True
    selectable_fields = ("spec.signerName",)

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + validate_spec(as_dict(obj.get("spec")))

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)  # status kept from old
        new["spec"] = old.get("spec")  # spec is immutable

    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_status_update(new, old)
        _stamp_conditions(new, old)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = validate_conditions(as_dict(new.get("status")))
        added, removed = (_types(new) - _types(old)), (_types(old) - _types(new))
        for t in ("Approved", "Denied"):
            if t in added:
                errs.append(forbidden("status.conditions", f'updates may not add a condition of type "{t}"'))
            if t in removed:
                errs.append(forbidden("status.conditions", f'updates may not remove a condition of type "{t}"'))
        old_cert = as_dict(old.get("status")).get("certificate")
        if old_cert and as_dict(new.get("status")).get("certificate") != old_cert:
            errs.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
        return errs

    # ---- /approval (called by the registry for subresource "approval") -----------------------
    def prepare_for_approval_update(self, new: Obj, old: Obj) -> None:
        conditions = as_dict(new.get("status")).get("conditions")
        meta = new.get("metadata") or {}
        new.clear()
        new.update({k: v for k, v in old.items() if k != "status"})
        status = dict(as_dict(old.get("status")))
        if conditions is not None:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        if status:
            new["status"] = status
        # labels/annotations may change through approval upstream; the rest of metadata is old's
        m = dict(old.get("metadata") or {})
        for k in ("resourceVersion", "labels", "annotations"):
            if k in meta:
                m[k] = meta[k]
        new["metadata"] = m
        _stamp_conditions(new, old)

    def validate_approval_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = validate_conditions(as_dict(new.get("status")))
        for t in ("Approved", "Denied"):
            if t in _types(old) and t not in _types(new):
                errs.append(forbidden("status.conditions", f'updates may not remove a condition of type "{t}"'))
        return errs


register(CsrStrategy())
