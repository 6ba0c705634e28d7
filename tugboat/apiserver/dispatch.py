"""Route a resource request to its handler: resolve the type, check scope, verb and subresource."""

from __future__ import annotations

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from . import proxy, proxy_ws, reviews, subresources
from .context import Ctx
from .handlers import delete, patch, read, watch, write
from .proxy_ws import UpgradeResp
from .request import Req, Resp, StreamResp


def not_found_route() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def _method_not_allowed() -> ApiError:
    return errors.method_not_allowed("the server does not allow this method on the requested resource")


async def handle(ctx: Ctx, req: Req) -> Resp | StreamResp | UpgradeResp:
    info = req.info
    rt = ctx.scheme.get(info.group, info.version, info.resource)
    if rt is None:
        raise not_found_route()
    ns = info.namespace if rt.namespaced else ""
    name = info.name
    if rt.group == "" and rt.plural == "namespaces":
        ns = ""
    elif not rt.namespaced and info.namespace:
        raise not_found_route()
    sub = info.subresource
    verb = info.verb
    if rt.group == "metrics.k8s.io" and not sub:  # computed from node agents' stats, never stored
        from .metrics import handle as metrics
        return await metrics(ctx, req, rt, ns, name)
    if sub:
        return await _subresource(ctx, req, rt, ns, name, sub)
    if verb not in rt.verbs and not (verb == "watch" and "watch" in rt.verbs):
        raise _method_not_allowed()
    if rt.namespaced and not ns and verb in ("create", "get", "update", "patch", "delete"):
        raise not_found_route()
    if verb == "get":
        return await read.get(ctx, req, rt, ns, name)
    if verb == "list":
        return await read.list_(ctx, req, rt, ns)
    if verb == "watch":
        return await watch.watch(ctx, req, rt, ns, name)
    if verb == "create":
        if name:
            raise _method_not_allowed()
        if rt.group == "authentication.k8s.io" and rt.plural == "selfsubjectreviews":
            return await reviews.self_subject_review(ctx, req, rt)
        if rt.group == "authorization.k8s.io":
            return await reviews.access_review(ctx, req, rt, ns)
        if rt.group == "authentication.k8s.io" and rt.plural == "tokenreviews":
            from .satoken.tokenrequest import token_review
            return await token_review(ctx, req, rt)
        return await write.create(ctx, req, rt, ns)
    if verb == "update":
        return await write.update(ctx, req, rt, ns, name)
    if verb == "patch":
        return await patch.patch(ctx, req, rt, ns, name)
    if verb == "delete":
        return await delete.delete_one(ctx, req, rt, ns, name)
    if verb == "deletecollection":
        return await delete.delete_collection(ctx, req, rt, ns)
    raise _method_not_allowed()


async def _subresource(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str, sub: str) -> Resp | StreamResp | UpgradeResp:
    s = rt.subresource(sub)
    if s is None or not name:
        raise not_found_route()
    m = req.method
    if sub == "status" or (sub == "approval" and rt.kind == "CertificateSigningRequest"):
        if m in ("GET", "HEAD"):
            return await read.get(ctx, req, rt, ns, name)
        if m == "PUT":
            return await write.update(ctx, req, rt, ns, name, sub)
        if m == "PATCH":
            return await patch.patch(ctx, req, rt, ns, name, sub)
        raise _method_not_allowed()
    if sub == "scale":
        return await subresources.scale(ctx, req, rt, ns, name)
    if sub == "binding" and rt.kind == "Pod":
        return await subresources.binding(ctx, req, rt, ns, name)
    if sub == "token" and rt.kind == "ServiceAccount":
        from .satoken.tokenrequest import token_request
        return await token_request(ctx, req, rt, ns, name)
    if sub == "eviction" and rt.kind == "Pod":
        return await subresources.eviction(ctx, req, rt, ns, name)
    if sub == "finalize" and rt.kind == "Namespace":
        if m != "PUT":
            raise _method_not_allowed()
        from .nsfinalizer import finalize
        return await finalize(ctx, req, rt, name)
    if rt.kind == "Pod" and sub == "log":
        if m not in ("GET", "HEAD"):
            raise _method_not_allowed()
        return await proxy.logs(ctx, req, rt, ns, name)
    if rt.kind == "Pod" and sub == "portforward":  # any upgrade (WebSocket or SPDY), tunnelled as bytes
        from .portforward import portforward
        return await portforward(ctx, req, rt, ns, name)
    if rt.kind == "Pod" and sub in ("exec", "attach", "portforward"):
        return await proxy_ws.stream(ctx, req, rt, ns, name, sub)
    if sub in subresources.NODE_FACING:
        await ctx.registry.get(rt, ns, name)  # 404 for a missing object first
        raise subresources.node_facing(rt, sub, name)
    raise ApiError(405, "MethodNotAllowed", f"{rt.plural}/{sub} is not supported yet")
