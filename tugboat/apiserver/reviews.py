"""Create-only review resources that are computed, never stored.

`SelfSubjectReview` (authentication.k8s.io/v1) answers "who am I" from the request's
authenticated user; `kubectl auth whoami` uses it. The authorization.k8s.io reviews ask the
server's authorizer (`ctx.extras["authz"]`) the same question a request would: `kubectl auth
can-i` (SelfSubjectAccessReview) and `can-i --list` (SelfSubjectRulesReview).
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.errors import invalid_object
from tugboat.api.scheme import ResourceType

from . import decode
from .context import Ctx
from .handlers.output import object_response
from .negotiate import negotiate
from .request import Req, Resp, UserInfo

Obj = dict[str, Any]


async def self_subject_review(ctx: Ctx, req: Req, rt: ResourceType) -> Resp:
    body = decode.decode_object(req.body, req.header("Content-Type"), rt.group, rt.version, rt.kind) \
        if req.body.strip() else {"apiVersion": rt.api_version, "kind": rt.kind}
    user = req.user
    info: Obj = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    meta_in = body.get("metadata")
    meta: Obj = {"creationTimestamp": None}
    if isinstance(meta_in, dict):
        meta.update({k: v for k, v in meta_in.items() if k in ("name", "generateName")})
    out: Obj = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, "status": {"userInfo": info}}
    return object_response(ctx, rt, out, req, negotiate(req.header("Accept")), 201)


# ---- authorization.k8s.io/v1 access reviews ------------------------------------------------

def _user_from_spec(spec: Obj) -> UserInfo:
    extra = spec.get("extra") or {}
    return UserInfo(str(spec.get("user") or ""), tuple(spec.get("groups") or ()), str(spec.get("uid") or ""),
                    {k: list(v) for k, v in extra.items()} if isinstance(extra, dict) else {})


def _attrs(user: UserInfo, spec: Obj) -> Any:
    from .authz import Attrs
    ra: Obj | None = spec.get("resourceAttributes")
    nra: Obj | None = spec.get("nonResourceAttributes")
    if (ra is None) == (nra is None):
        raise invalid_object("authorization.k8s.io", "SubjectAccessReview", "", [errors.invalid(
            "spec.resourceAttributes", ra, "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    if nra is not None or ra is None:
        nra = nra or {}
        return Attrs(user, str(nra.get("verb") or ""), False, path=str(nra.get("path") or ""))
    return Attrs(user, str(ra.get("verb") or ""), True, str(ra.get("namespace") or ""), str(ra.get("group") or ""),
                 str(ra.get("resource") or ""), str(ra.get("subresource") or ""), str(ra.get("name") or ""))


def _decide(ctx: Ctx, attrs: Any) -> Obj:
    from .authz import Decision
    authz = ctx.extras.get("authz")
    if authz is None:  # no authorizer configured: everything authenticated is allowed
        return {"allowed": True}
    decision, reason = authz.authorizer.decide(attrs)
    status: Obj = {"allowed": decision is Decision.ALLOW}
    if decision is Decision.DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


async def access_review(ctx: Ctx, req: Req, rt: ResourceType, ns: str) -> Resp:
    """SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview."""
    body = decode.decode_object(req.body, req.header("Content-Type"), rt.group, rt.version, rt.kind)
    spec_in = body.get("spec")
    spec: Obj = spec_in if isinstance(spec_in, dict) else {}
    if rt.kind == "SelfSubjectRulesReview":
        status = _rules_status(ctx, req.user, str(spec.get("namespace") or ""))
    else:
        user = req.user if rt.kind == "SelfSubjectAccessReview" else _user_from_spec(spec)
        if rt.kind != "SelfSubjectAccessReview" and not user.name and not user.groups:
            raise invalid_object(rt.group, rt.kind, "", [errors.required("spec.user", "at least one of user or group must be specified")])
        attrs = _attrs(user, spec)
        if rt.kind == "LocalSubjectAccessReview":
            ra = spec.get("resourceAttributes")
            if ra is None or (ra.get("namespace") or "") != ns:
                raise invalid_object(rt.group, rt.kind, "", [errors.invalid(
                    "spec.resourceAttributes.namespace", (ra or {}).get("namespace", ""),
                    f"must match namespace: {ns}")])
        status = _decide(ctx, attrs)
    meta: Obj = {"creationTimestamp": None}
    if ns:
        meta["namespace"] = ns
    out: Obj = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, "spec": spec, "status": status}
    return object_response(ctx, rt, out, req, negotiate(req.header("Accept")), 201)


def _rules_status(ctx: Ctx, user: UserInfo, ns: str) -> Obj:
    from .authz import rules_for
    from .authz.node import node_name
    authz = ctx.extras.get("authz")
    if authz is None:
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    res, nonres = [], []
    for rule in rules_for(authz.policy, user, ns):
        if rule.get("nonResourceURLs"):
            nonres.append({"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]})
        else:
            rr = {k: rule[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if rule.get(k)}
            rr.setdefault("verbs", [])
            res.append(rr)
    status: Obj = {"resourceRules": res, "nonResourceRules": nonres, "incomplete": False}
    if node_name(user) is not None and "Node" in authz.modes:
        status["incomplete"] = True
        status["evaluationError"] = "node authorizer does not support user rule resolution"
    return status
