"""POST (create) and PUT (update / update status)."""

from __future__ import annotations

from tugboat.api.scheme import ResourceType

from .. import decode
from ..context import Ctx
from ..negotiate import negotiate
from ..request import Req, Resp
from .common import check_fields, write_opts
from .output import object_response


async def create(ctx: Ctx, req: Req, rt: ResourceType, ns: str) -> Resp:
    out = negotiate(req.header("Accept"))
    obj = decode.decode_object(req.body, req.header("Content-Type"), rt.group, rt.version, rt.kind)
    check_fields(ctx, rt, obj, req)
    opts = write_opts(req)
    created = await ctx.registry.create(rt, ns, obj, opts)
    return object_response(ctx, rt, created, req, out, 201)


async def update(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str, subresource: str = "") -> Resp:
    out = negotiate(req.header("Accept"))
    obj = decode.decode_object(req.body, req.header("Content-Type"), rt.group, rt.version, rt.kind)
    check_fields(ctx, rt, obj, req)
    opts = write_opts(req, subresource=subresource)
    new, created = await ctx.registry.update(rt, ns, name, obj, opts)
    return object_response(ctx, rt, new, req, out, 201 if created else 200)
