"""AdmissionReview v1: build the request, call the webhook over HTTPS, read the response.

Why its own module: the wire format is what third-party webhooks (OPA Gatekeeper, Kyverno,
cert-manager, ...) parse, so it follows admission.k8s.io/v1 field for field: uid, kind,
resource, subResource, requestKind/Resource, name, namespace, operation, userInfo, object,
oldObject, dryRun, options. The URL gets `?timeout=Ns`; the server certificate is verified
against clientConfig.caBundle (or the system roots) and, for a service reference, the name
`<service>.<namespace>.svc`.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from typing import Any

import aiohttp
import orjson

from tugboat.api.scheme import ResourceType

from ..registry import WriteOpts

Obj = dict[str, Any]
_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


class CallError(Exception):
    """The webhook could not be called or answered nonsense."""


def build_request(op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> Obj:
    obj = new if new is not None else old or {}
    meta = obj.get("metadata") or {}
    user = opts.user
    req: Obj = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
        "requestKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "requestResource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
        "name": meta.get("name", ""),
        "operation": op,
        "userInfo": {"username": user.name if user else "", "groups": list(user.groups) if user else []},
        "object": new,
        "oldObject": old,
        "dryRun": opts.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": _OPTIONS_KIND.get(op, "CreateOptions")},
    }
    if user is not None and user.uid:
        req["userInfo"]["uid"] = user.uid
    if user is not None and user.extra:
        req["userInfo"]["extra"] = {k: list(v) for k, v in user.extra.items()}
    if opts.subresource:
        req["subResource"] = req["requestSubResource"] = opts.subresource
    if rt.namespaced:
        req["namespace"] = meta.get("namespace", "")
    if opts.field_manager and op != "DELETE":
        req["options"]["fieldManager"] = opts.field_manager
    return req


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_bundle:
        ctx = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def call(url: str, server_name: str | None, ca_bundle: str | None, timeout: int, request: Obj) -> Obj:
    """POST the review; returns its `response` (uid checked). Raises CallError."""
    body = orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    sep = "&" if "?" in url else "?"
    full = f"{url}{sep}timeout={timeout}s"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, s.post(
                full, data=body, headers={"Content-Type": "application/json", "Accept": "application/json"},
                ssl=ssl_context(ca_bundle), server_hostname=server_name) as r:
            raw = await r.read()
            if r.status != 200:
                raise CallError(f"failed to call webhook: the server responded with status {r.status}")
    except CallError:
        raise
    except TimeoutError:
        raise CallError(f'failed to call webhook: Post "{full}": context deadline exceeded') from None
    except (aiohttp.ClientError, OSError, ssl.SSLError) as e:
        raise CallError(f'failed to call webhook: Post "{full}": {e}') from None
    try:
        review = orjson.loads(raw)
        resp = review["response"]
        assert isinstance(resp, dict)
    except Exception:
        raise CallError("received invalid webhook response: expected response in AdmissionReview") from None
    if resp.get("uid") != request["uid"]:
        raise CallError(f"expected response.uid=\"{request['uid']}\", got \"{resp.get('uid')}\"")
    return resp
