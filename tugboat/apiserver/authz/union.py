"""The authorizer chain the server calls: privileged group, then Node, then RBAC.

Upstream's union authorizer: the first Allow or Deny decides; NoOpinion moves on; if nobody
allows, the request is forbidden and every reason given is appended to the 403 message.
`system:masters` is always allowed, like upstream's privileged-group authorizer. Anonymous
requests stay 401 (only health and version are public, enforced at the edge).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from tugboat.api import errors
from tugboat.api.errors import ApiError

from ..auth import is_public_cluster_info
from ..request import Req
from .attrs import Attrs, Decision, attrs_from_req, forbidden_message

log = logging.getLogger(__name__)
MASTERS = "system:masters"
# Subresources a GET upgrades into a stream: upstream also requires `create` on them (1.32's
# AuthorizePodWebsocketUpgradeCreatePermission), so `view`'s get alone cannot exec.
_STREAM_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})


class Decider(Protocol):
    def decide(self, a: Attrs) -> tuple[Decision, str]: ...


class UnionAuthorizer:
    def __init__(self, deciders: Sequence[Decider]):
        self.deciders = list(deciders)

    def decide(self, a: Attrs) -> tuple[Decision, str]:
        if MASTERS in a.user.groups:
            return Decision.ALLOW, ""
        reasons = []
        for d in self.deciders:
            decision, reason = d.decide(a)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)

    def check(self, a: Attrs) -> None:
        decision, reason = self.decide(a)
        if decision is Decision.ALLOW:
            return
        msg = forbidden_message(a)
        log.debug("authorization denied: %s %s", msg, reason)  # upstream logs RBAC denials at -v=2
        if reason:
            msg += ": " + reason
        details = None
        if a.resource_request:
            details = {"kind": a.resource, **({"group": a.api_group} if a.api_group else {}),
                       **({"name": a.name} if a.name else {})}
        raise ApiError(403, "Forbidden", msg, details)

    async def authorize(self, req: Req) -> None:
        if not req.user.authenticated and not is_public_cluster_info(req):  # node join reads it (RBAC decides)
            raise errors.unauthorized()
        a = attrs_from_req(req)
        self.check(a)
        if a.resource_request and a.verb == "get" and a.api_group == "" and a.resource == "pods" \
                and a.subresource in _STREAM_SUBRESOURCES:
            self.check(attrs_from_req(req, "create"))
