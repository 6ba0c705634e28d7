"""POST serviceaccounts/<name>/token (TokenRequest) and POST tokenreviews (TokenReview).

TokenRequest follows upstream's TokenREST: default audiences are the API audiences, the bound
object (Pod, Secret or Node) must exist with the given uid, a pod must run as this service
account; `expirationSeconds` defaults to 3600, at least 600, capped by the max expiration; the
kubelet's 3607 s request is silently extended to a year with `warnafter` (the status still says
3607 s, so the agent refreshes on schedule).
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .. import decode
from ..context import Ctx
from ..request import Req, Resp, UserInfo, json_resp
from .issuer import (
    CHAIN_KEY,
    EXPIRATION_EXTENSION_SECONDS,
    EXTRA_KEY,
    WARN_ONLY_EXPIRATION_SECONDS,
    ServiceAccountAuthenticator,
    TokenInvalid,
    TokenIssuer,
    _get,
)

Obj = dict[str, Any]
GROUP = "authentication.k8s.io"


def issuer_of(ctx: Ctx) -> TokenIssuer:
    iss = ctx.extras.get(EXTRA_KEY)
    if iss is None:
        raise ApiError(503, "ServiceUnavailable", "service account token issuing is not configured")
    return iss  # type: ignore[no-any-return]


def _body(req: Req, kind: str) -> Obj:
    if not req.body.strip():
        return {"apiVersion": f"{GROUP}/v1", "kind": kind}
    return decode.decode_object(req.body, req.header("Content-Type"), GROUP, "v1", kind)


async def token_request(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    if req.method != "POST":
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    iss = issuer_of(ctx)
    body = _body(req, "TokenRequest")
    spec: Obj = body["spec"] if isinstance(body.get("spec"), dict) else {}
    exp = spec.get("expirationSeconds")
    exp = 3600 if exp is None else exp
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise errors.bad_request("spec.expirationSeconds must be an integer")
    if exp < 600:
        raise _invalid(name, errors.invalid("spec.expirationSeconds", exp, "may not specify a duration less than 10 minutes"))
    if exp > 1 << 32:
        raise _invalid(name, errors.invalid("spec.expirationSeconds", exp,
                                            "may not specify a duration larger than 2^32 seconds"))
    sa = await ctx.registry.get(rt, ns, name)
    pod = secret = node = None
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict) and ref:
        pod, secret, node = await _bound(ctx, ns, name, ref)
    if pod is not None and (pod.get("spec") or {}).get("nodeName"):
        node = await _get(ctx, "nodes", "", pod["spec"]["nodeName"])
    audiences = [a for a in spec.get("audiences") or [] if isinstance(a, str)] or list(iss.audiences)
    warn_after = 0
    if iss.max_expiration and exp > iss.max_expiration:
        exp = iss.max_expiration
    token_exp = exp
    if iss.extend_expiration and pod is not None and exp == WARN_ONLY_EXPIRATION_SECONDS and \
            set(audiences) <= set(iss.audiences):
        warn_after, token_exp = exp, EXPIRATION_EXTENSION_SECONDS
    now = ctx.clock.time()
    claims = iss.claims(now, sa, pod=pod, secret=secret, node=node, expiration=token_exp,
                        warn_after=warn_after, audiences=audiences)
    out_spec: Obj = {"audiences": audiences, "expirationSeconds": exp,
                     "boundObjectRef": ref if isinstance(ref, dict) and ref else None}
    meta: Obj = {"name": name, "namespace": ns, "creationTimestamp": None}
    from tugboat.util.clock import rfc3339
    out = {"kind": "TokenRequest", "apiVersion": f"{GROUP}/v1", "metadata": meta, "spec": out_spec,
           "status": {"token": iss.key.sign(claims), "expirationTimestamp": rfc3339(int(now) + exp)}}
    return json_resp(out, 201)


def _invalid(name: str, err: Any) -> ApiError:
    return errors.invalid_object(GROUP, "TokenRequest", name, [err])


async def _bound(ctx: Ctx, ns: str, sa_name: str, ref: Obj) -> tuple[Obj | None, Obj | None, Obj | None]:
    kind, api_version, name = ref.get("kind", ""), ref.get("apiVersion", ""), ref.get("name", "")
    plural = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}.get(kind)
    if api_version != "v1" or plural is None:
        group, _, version = api_version.rpartition("/")
        raise errors.bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    rt = ctx.scheme.get("", "v1", plural)
    assert rt is not None
    obj = await ctx.registry.get(rt, "" if kind == "Node" else ns, name)
    if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName") != sa_name:
        raise errors.bad_request(f'cannot bind token for serviceaccount "{sa_name}" to pod running with '
                                 f'serviceaccount "{(obj.get("spec") or {}).get("serviceAccountName", "")}"')
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.conflict("", kind, name, f"the UID in the bound object reference ({ref['uid']}) does not "
                              f"match the UID in record ({uid}). The object might have been deleted and then recreated")
    return (obj if kind == "Pod" else None, obj if kind == "Secret" else None, obj if kind == "Node" else None)


async def token_review(ctx: Ctx, req: Req, rt: ResourceType) -> Resp:
    """TokenReview: authenticate `spec.token` for `spec.audiences` (default: the API audiences)."""
    iss = issuer_of(ctx)
    body = _body(req, "TokenReview")
    spec: Obj = body["spec"] if isinstance(body.get("spec"), dict) else {}
    token = spec.get("token") or ""
    if not isinstance(token, str) or not token:
        raise errors.invalid_object(GROUP, "TokenReview", "", [errors.required("spec.token")])
    wanted = [a for a in spec.get("audiences") or [] if isinstance(a, str)]
    status: Obj = {"user": {}}
    if not iss.owns(token):
        user = await _other_authenticators(ctx, token) if not wanted else None
        if user is None:
            status["error"] = "[invalid bearer token, token lookup failed]"
        else:
            status = {"authenticated": True, "user": _user_info(user), "audiences": list(iss.audiences)}
    else:
        try:
            user, auds = await iss.authenticate(ctx, token, wanted or None)
        except TokenInvalid as e:
            status["error"] = f"[invalid bearer token, {e}]"
        else:
            status = {"authenticated": True, "user": _user_info(user), "audiences": auds}
    meta_in: Obj = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    meta: Obj = {"creationTimestamp": None, **{k: v for k, v in meta_in.items() if k in ("name", "generateName")}}
    out = {"kind": "TokenReview", "apiVersion": f"{GROUP}/v1", "metadata": meta,
           "spec": {"token": token, **({"audiences": wanted} if wanted else {})}, "status": status}
    return json_resp(out, 201)


def _user_info(user: UserInfo) -> Obj:
    info: Obj = {"username": user.name, "uid": user.uid, "groups": list(user.groups)}
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


async def _other_authenticators(ctx: Ctx, token: str) -> UserInfo | None:
    """Static, bootstrap... tokens: the rest of the server's chain (certificates do not apply)."""
    headers = {"Authorization": f"Bearer {token}"}
    for authn in ctx.extras.get(CHAIN_KEY) or []:
        if isinstance(authn, ServiceAccountAuthenticator):
            continue
        try:
            user = await authn(headers, None)
        except ApiError:
            return None
        if user is not None:
            return user  # type: ignore[no-any-return]
    return None
