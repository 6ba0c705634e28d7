"""PATCH: JSON patch, merge patch, strategic merge patch (built-ins only) and server-side apply.

All four run inside `guaranteed_update`, so the patch is re-applied to the fresh object on a
storage conflict, exactly like upstream's patcher. Apply creates the object when absent.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .. import codec, compat, decode
from ..context import Ctx
from ..negotiate import negotiate
from ..request import Req, Resp
from .common import check_fields, write_opts
from .output import object_response

Obj = dict[str, Any]
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def _parse(req: Req, ct: str) -> Any:
    if ct == APPLY:
        return decode.loads_yaml(req.body)
    return decode.loads_json(req.body)


async def patch(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str, subresource: str = "") -> Resp:
    out = negotiate(req.header("Accept"))
    ct = decode.media_type(req.header("Content-Type"))
    if ct not in (JSON_PATCH, MERGE, SMP, APPLY) or (ct == SMP and rt.custom):
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                       f"media types include: {JSON_PATCH}, {MERGE}, {APPLY}" + ("" if rt.custom else f", {SMP}"))
    if not req.body.strip():
        raise errors.bad_request("the body of the request was empty")
    body = _parse(req, ct)
    force = req.flag("force")
    if ct != APPLY and req.param("force"):
        raise errors.invalid_object("meta.k8s.io", "PatchOptions", "", [errors.forbidden(
            "force", "may not be specified for non-apply patch")])
    opts = write_opts(req, subresource=subresource, apply=ct == APPLY)
    if ct == APPLY:
        if not opts.field_manager:
            raise errors.invalid_object("meta.k8s.io", "PatchOptions", "", [errors.required(
                "fieldManager", "is required for apply patch")])
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is unrecognized")
        _check_apply_body(body, rt, name)
        opts.create_on_update = not subresource
    elif ct == JSON_PATCH:
        if not isinstance(body, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    elif not isinstance(body, dict):
        raise errors.bad_request("the body of the request was not a JSON object")
    pinned = _pinned_rv(body, ct)
    reg = ctx.registry
    schema = None if rt.custom else compat.schema_for(rt.group, rt.version, rt.kind)

    async def fn(old: Obj | None) -> Obj | None:
        if old is None:
            if ct != APPLY or subresource:
                raise reg.not_found(rt, name)
            new = compat.apply(None, codec.copy(body), manager=opts.field_manager, schema=schema, force=force,
                               api_version=rt.api_version, now=ctx.clock.rfc3339(), subresource=subresource)
            new.setdefault("metadata", {})["name"] = name
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            check_fields(ctx, rt, new, req)
            return new
        doc = codec.copy(old)
        if ct == JSON_PATCH:
            new = compat.json_patch(doc, body)
        elif ct == MERGE:
            new = compat.merge_patch(doc, body)
        elif ct == SMP:
            new = compat.strategic_merge_patch(doc, body, schema)
        else:
            new = compat.apply(doc, codec.copy(body), manager=opts.field_manager, schema=schema, force=force,
                               api_version=rt.api_version, now=ctx.clock.rfc3339(), subresource=subresource)
        if not isinstance(new, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        if new.get("apiVersion") != rt.api_version or new.get("kind") != rt.kind:
            raise errors.bad_request("the API version and kind of the patched object may not change")
        if not isinstance(new.get("metadata"), dict):
            raise errors.bad_request("metadata must be an object")
        rv = new["metadata"].get("resourceVersion")
        if rv and rv != old["metadata"].get("resourceVersion"):
            raise errors.stale_conflict(rt.group, rt.plural, name)
        check_fields(ctx, rt, new, req, patched=ct != APPLY)
        reg.prepare_update(rt, new, old, subresource)
        await reg._admit("UPDATE", rt, new, old, opts)
        if ct != APPLY:
            reg._managed(rt, old, new, opts)
        return new

    obj, created = await reg.guaranteed_update(rt, ns, name, fn, opts, precondition_given=pinned)
    return object_response(ctx, rt, obj, req, out, 201 if created else 200)


def _check_apply_body(body: Obj, rt: ResourceType, name: str) -> None:
    if body.get("apiVersion") != rt.api_version or body.get("kind") != rt.kind:
        raise errors.bad_request(f"the API version in the data ({body.get('apiVersion')}) does not match the "
                                 f"expected API version ({rt.api_version})" if body.get("apiVersion") != rt.api_version
                                 else f"the object provided is unrecognized (must be of type {rt.kind})")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    if meta.get("name") and meta["name"] != name:
        raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                 f"({name})")


def _pinned_rv(body: Any, ct: str) -> bool:
    if ct == JSON_PATCH:
        return any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in body)
    return isinstance(body, dict) and bool((body.get("metadata") or {}).get("resourceVersion"))
