"""csrapproving: auto-approve the client certificates nodes ask for (kubeadm/k3s node join).

Upstream 1.32 pkg/controller/certificates/approver approves a CSR for signer
`kubernetes.io/kube-apiserver-client-kubelet` when its request is a valid kubelet client
request (see csr_util.kubelet_client_errors) and the requester may create
`certificatesigningrequests/nodeclient` (a new node: kubeadm grants that to bootstrap tokens) or
`certificatesigningrequests/selfnodeclient` (renewal: the requester is the node named in the
request). Tugboat grants those two exactly as kubeadm's default bindings do: nodeclient to
`system:bootstrappers`, selfnodeclient to `system:nodes` when `spec.username` equals the
request's common name. Anything else is left pending for `kubectl certificate approve`.
The condition written is upstream's: Approved/AutoApproved with its message.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.client import is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.controllers.csr_util import (
    KUBELET_CLIENT_SIGNER,
    common_name,
    has_condition,
    kubelet_client_errors,
    parse_request,
    with_condition,
)
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
NODECLIENT_MSG = "Auto approving kubelet client certificate after SubjectAccessReview."
SELFNODECLIENT_MSG = "Auto approving self kubelet client certificate after SubjectAccessReview."


def approval_message(csr: Obj) -> str | None:
    """The approval message if this CSR is to be auto-approved, else None."""
    spec = csr.get("spec") or {}
    if spec.get("signerName") != KUBELET_CLIENT_SIGNER:
        return None
    try:
        req = parse_request(csr)
    except ValueError:
        return None
    if kubelet_client_errors(req, list(spec.get("usages") or [])):
        return None
    groups = set(spec.get("groups") or [])
    if "system:nodes" in groups and spec.get("username") == common_name(req):
        return SELFNODECLIENT_MSG
    if "system:bootstrappers" in groups:
        return NODECLIENT_MSG
    return None


@register
class CsrApprovingController(BaseController):
    name = "csrapproving"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.csr_rt = ctx.rt("certificates.k8s.io", "v1", "certificatesigningrequests")

    def setup(self) -> None:
        self.csrs = self.ctx.informers.informer(self.csr_rt)
        self.csrs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))

    async def reconcile(self, key: str) -> float | None:
        csr = self.csrs.lister.get(key)
        if csr is None or has_condition(csr, "Approved") or has_condition(csr, "Denied"):
            return None
        msg = approval_message(csr)
        if msg is None:
            return None
        approved = with_condition(csr, "Approved", "AutoApproved", msg, rfc3339(self.ctx.clock.time()))
        try:
            await self.client.request("PUT", f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{key}/approval",
                                      body=approved)
        except ApiStatusError as e:
            if is_not_found(e):
                return None
            raise
        log.info("approved CSR %s (%s)", key, msg)
        return None
