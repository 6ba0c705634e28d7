"""The requester of a CertificateSigningRequest, recorded by the server (upstream PrepareForCreate).

Approvers decide on `spec.username`/`groups` (a bootstrap token's `system:bootstrappers`, a
node's own `system:node:<name>`), so those fields must be who actually sent the request, never
what the body claims: on create they are overwritten from the authenticated user.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.scheme import ResourceType

from .registry import WriteOpts


async def csr_user_info(op: str, rt: ResourceType, new: dict[str, Any] | None, old: dict[str, Any] | None,
                        opts: WriteOpts) -> None:
    if op != "CREATE" or new is None or rt.group != "certificates.k8s.io" or rt.kind != "CertificateSigningRequest":
        return
    spec = new.setdefault("spec", {})
    for k in ("username", "uid", "groups", "extra"):
        spec.pop(k, None)
    user = opts.user
    if user is None:
        return
    spec["username"] = user.name
    if user.uid:
        spec["uid"] = user.uid
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
