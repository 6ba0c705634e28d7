"""Audit logging: upstream's Policy file (audit.k8s.io/v1) and JSON-lines `Event`s.

Why at the HTTP edge (an aiohttp middleware): it must see every request — including the ones
refused by authentication or authorization — with the final status code and, for the
RequestResponse level, the exact bytes sent. The first rule that matches a request sets its
level (none matching → None, as upstream); stages are RequestReceived (before handling) and
ResponseComplete (after; for watches when the stream ends), minus `omitStages`.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import yaml
from aiohttp import web

from tugboat.api.errors import ApiError

from .request import Req, UserInfo
from .requestinfo import RequestInfo, parse

Obj = dict[str, Any]
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USER_KEY = web.RequestKey("tug.user", UserInfo)  # set here, reused by ApiServer._user
REQ_KEY = web.RequestKey("tug.req", Req)  # set by ApiServer.handle: the body for Request level


@dataclass
class Rule:
    level: str
    users: list[str] = field(default_factory=list)
    user_groups: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=list)
    resources: list[Obj] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    non_resource_urls: list[str] = field(default_factory=list)
    omit_stages: list[str] = field(default_factory=list)
    omit_managed_fields: bool | None = None

    def matches(self, user: UserInfo, info: RequestInfo) -> bool:
        if self.users and user.name not in self.users:
            return False
        if self.user_groups and not set(self.user_groups) & set(user.groups):
            return False
        if self.verbs and info.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            if not info.is_resource:
                return False
            if self.namespaces and info.namespace not in self.namespaces:
                return False
            return not self.resources or any(_resource_match(g, info) for g in self.resources)
        if self.non_resource_urls:
            return not info.is_resource and any(_url_match(p, info.path) for p in self.non_resource_urls)
        return True


def _url_match(pattern: str, path: str) -> bool:
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


def _resource_match(gr: Obj, info: RequestInfo) -> bool:
    if gr.get("group", "") != info.group:
        return False
    names = gr.get("resourceNames") or []
    if names and info.name not in names:
        return False
    wanted = gr.get("resources") or []
    combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    return not wanted or any(
        r in ("*", combined) or (info.subresource and r.startswith("*/") and r[2:] == info.subresource)
        or (r.endswith("/*") and r[:-2] == info.resource) for r in wanted)


@dataclass
class Policy:
    rules: list[Rule]
    omit_stages: list[str] = field(default_factory=list)
    omit_managed_fields: bool = False

    @classmethod
    def from_dict(cls, doc: Obj) -> Policy:
        if doc.get("kind") != "Policy" or doc.get("apiVersion") != "audit.k8s.io/v1":
            raise ValueError("expected kind Policy, apiVersion audit.k8s.io/v1")
        rules = []
        for i, r in enumerate(doc.get("rules") or []):
            level = r.get("level")
            if level not in LEVELS:
                raise ValueError(f"rules[{i}].level: Unsupported value: {level!r}: supported values: {LEVELS}")
            if r.get("nonResourceURLs") and (r.get("resources") or r.get("namespaces")):
                raise ValueError(f"rules[{i}]: rules cannot apply to both regular resources and non-resource URLs")
            _check_stages(r.get("omitStages") or [], f"rules[{i}].omitStages")
            rules.append(Rule(level, list(r.get("users") or []), list(r.get("userGroups") or []),
                              list(r.get("verbs") or []), list(r.get("resources") or []),
                              list(r.get("namespaces") or []), list(r.get("nonResourceURLs") or []),
                              list(r.get("omitStages") or []), r.get("omitManagedFields")))
        _check_stages(doc.get("omitStages") or [], "omitStages")
        return cls(rules, list(doc.get("omitStages") or []), bool(doc.get("omitManagedFields")))

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})

    def decide(self, user: UserInfo, info: RequestInfo) -> tuple[str, set[str], bool]:
        """(level, omitted stages, omit managedFields) for one request."""
        for r in self.rules:
            if r.matches(user, info):
                omf = self.omit_managed_fields if r.omit_managed_fields is None else r.omit_managed_fields
                return r.level, set(self.omit_stages) | set(r.omit_stages), omf
        return "None", set(self.omit_stages), self.omit_managed_fields


def _check_stages(stages: list[str], path: str) -> None:
    for s in stages:
        if s not in STAGES:
            raise ValueError(f"{path}: Unsupported value: {s!r}")


def micro_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    """Decides, builds and writes the events; `middleware` plugs it into the aiohttp app.

    `authenticate(request)` is the server's own authentication (its result is cached on the
    request so the handler does not authenticate twice)."""

    def __init__(self, policy: Policy, path: str, authenticate: Callable[[web.Request], Awaitable[UserInfo]]):
        self.policy = policy
        self.authenticate = authenticate
        self.path = path
        self._out: IO[bytes] | None = None

    def _stream(self) -> IO[bytes]:
        if self._out is None:
            if self.path == "-":
                self._out = sys.stdout.buffer
            else:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._out = os.fdopen(fd, "ab", buffering=0)
        return self._out

    def write(self, event: Obj) -> None:
        self._stream().write(orjson.dumps(event) + b"\n")

    def close(self) -> None:
        if self._out is not None and self.path != "-":
            self._out.close()
        self._out = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        received = time.time()
        info = parse(request.method, request.path, request.query)
        try:
            user = await self.authenticate(request)
        except ApiError:
            user = UserInfo("system:anonymous", ("system:unauthenticated",))  # the handler answers 401
        else:
            request[USER_KEY] = user
        level, omit, omit_mf = self.policy.decide(user, info)
        if level == "None":
            return await handler(request)
        base = self._base(request, info, user, level, received)
        if "RequestReceived" not in omit:
            self.write({**base, "stage": "RequestReceived", "stageTimestamp": micro_time(received)})
        resp = await handler(request)
        if "ResponseComplete" not in omit:
            ev = {**base, "stage": "ResponseComplete", "responseStatus": _status(resp)}
            if level in ("Request", "RequestResponse"):
                req = request.get(REQ_KEY)
                body = _json(getattr(req, "body", b""), omit_mf, request.headers.get("Content-Type", ""))
                if body is not None:
                    ev["requestObject"] = body
            if level == "RequestResponse" and isinstance(resp, web.Response) and resp.body is not None:
                body = _json(resp.body if isinstance(resp.body, bytes) else b"", omit_mf, resp.content_type)
                if body is not None:
                    ev["responseObject"] = body
            ev["stageTimestamp"] = micro_time(time.time())
            self.write(ev)
        return resp

    @staticmethod
    def _base(request: web.Request, info: RequestInfo, user: UserInfo, level: str, received: float) -> Obj:
        u: Obj = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            u["uid"] = user.uid
        if user.extra:
            u["extra"] = {k: list(v) for k, v in user.extra.items()}
        ips = [ip.strip() for ip in request.headers.get("X-Forwarded-For", "").split(",") if ip.strip()]
        if request.remote and request.remote not in ips:
            ips.append(request.remote)
        ev: Obj = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": str(uuid.uuid4()),
                   "stage": "", "requestURI": request.path_qs, "verb": info.verb, "user": u, "sourceIPs": ips}
        if request.headers.get("User-Agent"):
            ev["userAgent"] = request.headers["User-Agent"]
        if info.is_resource:
            ref: Obj = {"resource": info.resource}
            if info.namespace:
                ref["namespace"] = info.namespace
            if info.name:
                ref["name"] = info.name
            if info.group:
                ref["apiGroup"] = info.group
            ref["apiVersion"] = info.version
            if info.subresource:
                ref["subresource"] = info.subresource
            ev["objectRef"] = ref
        ev["requestReceivedTimestamp"] = micro_time(received)
        return ev


def _status(resp: web.StreamResponse) -> Obj:
    out: Obj = {"metadata": {}, "code": resp.status}
    if resp.status >= 400 and isinstance(resp, web.Response) and isinstance(resp.body, bytes):
        doc = _json(resp.body, False, resp.content_type)
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            out = {"metadata": {}, "status": doc.get("status", "Failure"), "message": doc.get("message", ""),
                   "reason": doc.get("reason", ""), "code": resp.status}
    return out


def _json(data: bytes, omit_managed_fields: bool, content_type: str = "") -> Any:
    """The body as an object (JSON, YAML or protobuf, as the request's codec reads it), or None."""
    if not data:
        return None
    from .decode import decode

    try:
        doc = decode(data, content_type)
    except Exception:  # noqa: BLE001 - an unreadable body is simply not logged
        return None
    if not isinstance(doc, (dict, list)):
        return None
    if omit_managed_fields and isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        doc["metadata"].pop("managedFields", None)
    return doc
