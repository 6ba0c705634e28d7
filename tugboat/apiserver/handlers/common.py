"""Request → option objects shared by the write handlers."""

from __future__ import annotations

from typing import Any

import orjson

from tugboat.api import errors, fieldcheck
from tugboat.api.scheme import ResourceType

from .. import compat, decode
from ..context import Ctx
from ..registry import WriteOpts
from ..request import Req

Obj = dict[str, Any]


def write_opts(req: Req, *, subresource: str = "", apply: bool = False) -> WriteOpts:
    dry = req.query_all.get("dryRun") or ([req.query["dryRun"]] if req.query.get("dryRun") else [])
    for v in dry:
        if v != "All":
            raise errors.invalid_object("meta.k8s.io", "CreateOptions", "", [errors.not_supported("dryRun", v, ["All"])])
    manager = req.param("fieldManager")
    if len(manager) > 128:
        raise errors.invalid_object("meta.k8s.io", "CreateOptions", "", [errors.too_long("fieldManager", 128)])
    if not manager and not apply:
        manager = compat.manager_from_user_agent(req.header("User-Agent"))
    return WriteOpts(dry_run=bool(dry), field_manager=manager, user=req.user, subresource=subresource,
                     warnings=req.warnings)


def check_fields(ctx: Ctx, rt: ResourceType, obj: Obj, req: Req, *, patched: bool = False) -> None:
    """fieldValidation policy (Strict / Warn / Ignore) for unknown and duplicate fields.

    Custom objects are pruned to their schema (the pruned paths are the unknown fields). A
    Strict failure is a 400 for POST/PUT bodies and, as upstream, a 422 on the `patch` field
    for patches; Warn turns each into a `Warning` header.
    """
    mode = decode.field_validation(req.param("fieldValidation"))
    if rt.custom:
        crds = ctx.extras.get("crds")
        unknown = crds.prune(rt, obj) if crds is not None else []
    elif mode == "Ignore":
        return
    else:
        unknown = compat.unknown_fields(obj, compat.schema_for(rt.group, rt.version, rt.kind))
    dups: list[str] = []
    if mode != "Ignore" and not patched and decode.media_type(req.header("Content-Type")) == "application/json":
        dups = fieldcheck.duplicate_fields(req.body)
    problems = fieldcheck.field_errors(unknown, dups)
    if not problems or mode == "Ignore":
        return
    if mode == "Strict":
        if patched:
            raise fieldcheck.strict_patch_error(orjson.dumps(obj).decode(), problems)
        raise fieldcheck.strict_error(rt.kind, rt.version, problems)
    req.warnings.extend(fieldcheck.warnings(problems))
