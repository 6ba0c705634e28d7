"""Encoding resource responses per negotiated output: JSON, Table, PartialObjectMetadata."""

from __future__ import annotations

from typing import Any

import orjson

from tugboat.api.scheme import ResourceType

from .. import codec, compat
from ..context import Ctx
from ..listing import ListResult
from ..negotiate import Output
from ..request import Req, Resp, json_resp, warning_header

Obj = dict[str, Any]


def include_object(req: Req) -> str:
    v = req.param("includeObject", "Metadata")
    return v if v in ("None", "Metadata", "Object") else "Metadata"


def table(ctx: Ctx, rt: ResourceType, objs: list[Obj], req: Req, version: str = "v1",
          list_meta: Obj | None = None, no_headers: bool = False) -> Obj:
    t = compat.to_table(rt.group, rt.kind, objs, now=ctx.clock.time(), include_object=include_object(req),
                        crd_columns=ctx.crd_columns.get((rt.group, rt.version, rt.plural)), list_meta=list_meta,
                        no_headers=no_headers)
    if version != "v1":
        t["apiVersion"] = f"meta.k8s.io/{version}"
    return t


def partial(obj: Obj, version: str = "v1") -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata") or {}}


def finish(resp: Resp, req: Req) -> Resp:
    if req.warnings:
        resp.headers["Warning"] = warning_header(req.warnings)
    return resp


def object_response(ctx: Ctx, rt: ResourceType, obj: Obj, req: Req, out: Output, status: int = 200) -> Resp:
    if out.kind == "table":
        t = table(ctx, rt, [obj], req, out.version)
        return finish(json_resp(t, status), req)
    if out.kind == "meta":
        return finish(json_resp(partial(obj, out.version), status), req)
    return finish(json_resp(obj, status), req)


def list_response(ctx: Ctx, rt: ResourceType, res: ListResult, req: Req, out: Output) -> Resp:
    lmeta: Obj = {"resourceVersion": str(res.revision)}
    if res.continue_:
        lmeta["continue"] = res.continue_
    if res.remaining is not None and res.continue_:
        lmeta["remainingItemCount"] = res.remaining
    if out.kind != "json":
        objs = [it.obj if it.obj is not None else codec.decode(it.kv.value, it.kv.mod_revision) for it in res.items]
        if out.kind == "table":
            t = table(ctx, rt, objs, req, out.version, list_meta=lmeta)
            return finish(json_resp(t), req)
        meta_list = {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{out.version}", "metadata": lmeta,
                     "items": [partial(o, out.version) for o in objs]}
        return finish(json_resp(meta_list), req)
    parts = []
    for it in res.items:
        if it.obj is not None:
            parts.append(orjson.dumps(it.obj))
        else:
            parts.append(codec.with_rv(it.kv.value, it.kv.mod_revision))
    head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": lmeta})
    body = head[:-1] + b',"items":[' + b",".join(parts) + b"]}"
    return finish(Resp(200, body), req)
