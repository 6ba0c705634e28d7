"""GET one object and LIST a collection."""

from __future__ import annotations

from tugboat.api.scheme import ResourceType

from .. import codec
from ..context import Ctx
from ..listing import ListOpts, list_objects
from ..negotiate import negotiate
from ..request import Req, Resp
from .output import finish, list_response, object_response


async def get(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    out = negotiate(req.header("Accept"))
    reg = ctx.registry
    kv = await reg.get_kv(rt, ns, name)
    if kv is None:
        raise reg.not_found(rt, name)
    if out.kind == "json" and reg.storage_type(rt) is rt:
        return finish(Resp(200, codec.with_rv(kv.value, kv.mod_revision)), req)
    obj = reg.to_version(rt, codec.decode(kv.value, kv.mod_revision))
    return object_response(ctx, rt, obj, req, out)


async def list_(ctx: Ctx, req: Req, rt: ResourceType, ns: str) -> Resp:
    out = negotiate(req.header("Accept"))
    opts = ListOpts.from_query(req.query)
    res = await list_objects(ctx.registry, rt, ns, opts, need_objects=out.kind != "json")
    return list_response(ctx, rt, res, req, out)
