"""Create-only review resources that are computed, never stored.

`SelfSubjectReview` (authentication.k8s.io/v1) answers "who am I" from the request's
authenticated user; `kubectl auth whoami` uses it. (Access reviews come with RBAC.)
"""

from __future__ import annotations

from typing import Any

from tugboat.api.scheme import ResourceType

from . import decode
from .context import Ctx
from .handlers.output import object_response
from .negotiate import negotiate
from .request import Req, Resp

Obj = dict[str, Any]


async def self_subject_review(ctx: Ctx, req: Req, rt: ResourceType) -> Resp:
    body = decode.decode_object(req.body, req.header("Content-Type"), rt.group, rt.version, rt.kind) \
        if req.body.strip() else {"apiVersion": rt.api_version, "kind": rt.kind}
    user = req.user
    info: Obj = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    meta_in = body.get("metadata")
    meta: Obj = {"creationTimestamp": None}
    if isinstance(meta_in, dict):
        meta.update({k: v for k, v in meta_in.items() if k in ("name", "generateName")})
    out: Obj = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, "status": {"userInfo": info}}
    return object_response(ctx, rt, out, req, negotiate(req.header("Accept")), 201)
