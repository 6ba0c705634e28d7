"""Request → option objects shared by the write handlers."""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
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


def check_fields(ctx: Ctx, rt: ResourceType, obj: Obj, req: Req) -> None:
    """fieldValidation policy for unknown fields; CRD objects are pruned instead."""
    mode = decode.field_validation(req.param("fieldValidation"))
    crds = ctx.extras.get("crds")
    if rt.custom:
        if crds is not None:
            unknown = crds.prune(rt, obj)
            decode.check_unknown(unknown, mode, rt.kind, rt.version, req.warnings)
        return
    if mode == "Ignore":
        return
    schema = compat.schema_for(rt.group, rt.version, rt.kind)
    decode.check_unknown(compat.unknown_fields(obj, schema), mode, rt.kind, rt.version, req.warnings)
