"""DELETE one object and DELETE a collection."""

from __future__ import annotations

from typing import Any

from tugboat.api.scheme import ResourceType

from .. import decode
from ..context import Ctx
from ..deletion import RETURN_DELETED_KINDS, DeleteOpts, delete, delete_status
from ..listing import ListOpts, list_objects
from ..negotiate import negotiate
from ..request import Req, Resp, json_resp
from .common import write_opts
from .output import finish, object_response

Obj = dict[str, Any]


def _opts(req: Req) -> DeleteOpts:
    body: Any = None
    if req.body.strip():
        body = decode.decode(req.body, req.header("Content-Type"))
        if body is not None and not isinstance(body, dict):
            from tugboat.api.errors import bad_request
            raise bad_request("the body of the request was not a DeleteOptions object")
    return DeleteOpts.from_body(body, req.query)


async def delete_one(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    out = negotiate(req.header("Accept"))
    o = _opts(req)
    wopts = write_opts(req)
    if rt.group == "" and rt.kind == "Namespace":
        from ..nsfinalizer import delete_namespace
        obj = await delete_namespace(ctx, name, o, wopts)
        return object_response(ctx, rt, obj, req, out, 200)
    obj, removed = await delete(ctx.registry, rt, ns, name, o, wopts)
    if removed and not rt.custom and rt.kind not in RETURN_DELETED_KINDS:
        return finish(json_resp(delete_status(rt, obj)), req)
    return object_response(ctx, rt, obj, req, out, 200)


async def delete_collection(ctx: Ctx, req: Req, rt: ResourceType, ns: str) -> Resp:
    o = _opts(req)
    wopts = write_opts(req)
    lo = ListOpts.from_query(req.query)
    res = await list_objects(ctx.registry, rt, ns, lo, need_objects=True)
    items = []
    from tugboat.api.errors import ApiError
    for it in res.items:
        assert it.obj is not None
        meta = it.obj["metadata"]
        try:
            obj, _ = await delete(ctx.registry, rt, meta.get("namespace", ""), meta["name"], o, wopts)
        except ApiError as e:
            if e.code == 404:
                continue
            raise
        items.append(obj)
    body = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": str(res.revision)},
            "items": items}
    return finish(json_resp(body), req)
