"""Non-resource endpoints: discovery, OpenAPI v2/v3, /version, /healthz /livez /readyz.

The document builders are pure (`tugboat.api.discovery`, `tugboat.api.openapi`); this module
only negotiates, caches per scheme generation, and sets ETag / Vary / Cache-Control.
"""

from __future__ import annotations

from typing import Any

import orjson

from tugboat.api.errors import ApiError

from .context import Ctx
from .request import Req, Resp

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "tugboat", "gitTreeState": "clean",
           "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3", "compiler": "gc",
           "platform": "linux/amd64"}
HEALTH_CHECKS = ("ping", "log", "etcd", "poststarthook/start-apiextensions-controllers",
                 "poststarthook/crd-informer-synced", "poststarthook/bootstrap-controller")
ANONYMOUS_PATHS = ("/healthz", "/livez", "/readyz", "/version")


def _json(obj: Any, headers: dict[str, str] | None = None, ct: str = "application/json") -> Resp:
    return Resp(200, orjson.dumps(obj), ct, headers or {})


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def health(ctx: Ctx, req: Req, path: str) -> Resp:
    ready = bool(ctx.extras.get("ready", True)) or path != "/readyz"
    name = path.strip("/")
    if "verbose" in req.query:
        lines = [f"[+]{c} ok" for c in HEALTH_CHECKS]
        lines.append(f"{name} check {'passed' if ready else 'failed'}")
        return Resp(200 if ready else 500, ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8")
    return Resp(200 if ready else 500, b"ok" if ready else b"not ready", "text/plain; charset=utf-8")


def discovery(ctx: Ctx, req: Req, path: str) -> Resp:
    from tugboat.api import discovery as D

    parts = path.strip("/").split("/")
    accept = req.header("Accept")
    if path in ("/api", "/apis"):
        ver = D.negotiate(accept)
        core = path == "/api"
        if ver is not None:
            body, tag = D.encoded_aggregated(ctx.scheme, core, ver)
            headers = {"ETag": tag, "Vary": "Accept"}
            if req.header("If-None-Match") == tag:
                return Resp(304, b"", D.content_type(ver), headers)
            return Resp(200, body, D.content_type(ver), headers)
        legacy = D.api_versions(ctx.config.external_address) if core else D.api_group_list(ctx.scheme)
        return _json(legacy, {"Vary": "Accept"})
    doc: dict[str, Any] | None
    if parts[0] == "api" and len(parts) == 2:
        doc = D.api_resource_list(ctx.scheme, "", parts[1])
    elif parts[0] == "apis" and len(parts) == 2:
        doc = D.api_group(ctx.scheme, parts[1])
    elif parts[0] == "apis" and len(parts) == 3:
        doc = D.api_resource_list(ctx.scheme, parts[1], parts[2])
    else:
        raise _not_found()
    if doc is None:
        raise _not_found()
    return _json(doc)


def openapi_v2(req: Req) -> Resp:
    """`/openapi/v2`: gnostic protobuf when asked for (kubectl), JSON otherwise."""
    from tugboat.api.openapi import v2

    proto = v2.wants_protobuf(req.header("Accept"))
    body, etag = v2.encoded_protobuf() if proto else v2.encoded_json()
    ct = v2.PROTOBUF_MEDIA if proto else "application/json"
    headers = {"ETag": etag, "Vary": "Accept", "Cache-Control": "no-cache, private"}
    if req.header("If-None-Match") == etag:
        return Resp(304, b"", ct, headers)
    return Resp(200, body, ct, headers)


def openapi(ctx: Ctx, req: Req, path: str) -> Resp:
    from tugboat.api import openapi as O

    crds = ctx.extras.get("crds")
    schemas_for = crds.openapi_schemas if crds is not None else None
    if path.rstrip("/") == "/openapi/v3":
        return _json(O.index(ctx.scheme, schemas_for))
    if path.rstrip("/") == "/openapi/v2":
        return openapi_v2(req)
    rel = path[len("/openapi/v3/"):]
    got = O.encoded_path(ctx.scheme, rel, schemas_for)
    if got is None:
        raise _not_found()
    body, h = got
    etag = f'"{h}"'
    want = req.param("hash")
    if want and want != h:
        return Resp(301, b"", "text/plain", {"Location": f"/openapi/v3/{rel}?hash={h}"})
    headers = {"ETag": etag, "Vary": "Accept"}
    headers["Cache-Control"] = "public, immutable" if want else "no-cache, private"
    if req.header("If-None-Match") == etag:
        return Resp(304, b"", "application/json", headers)
    return Resp(200, body, "application/json", headers)


def handle(ctx: Ctx, req: Req) -> Resp:
    path = req.info.path.rstrip("/") or "/"
    if req.method not in ("GET", "HEAD"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
        return health(ctx, req, "/" + path.strip("/").split("/")[0])
    if path == "/version":
        return _json(VERSION)
    if path in ("/api", "/apis") or path.startswith(("/api/", "/apis/")):
        return discovery(ctx, req, path)
    if path.startswith("/openapi/"):
        return openapi(ctx, req, path)
    if path in ("/.well-known/openid-configuration", "/openid/v1/jwks"):  # satoken/discovery.py
        from .satoken.discovery import handle as oidc
        got = oidc(ctx, path)
        if got is not None:
            return got
    if path == "/":
        paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]
        return _json({"paths": paths})
    raise _not_found()
