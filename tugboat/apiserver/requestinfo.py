"""Turn a URL path + method into a RequestInfo (upstream's RequestInfoFactory rules).

Resource paths look like
  /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
  /apis/{group}/{version}/{resource}/{name}
and the legacy `/api/v1/watch/...` form, or `?watch=true`, turns list/get into watch.
`/api/v1/namespaces/{name}` is the namespace object itself, and `/status` / `/finalize`
directly under it are its subresources. Anything else (discovery, /version, /healthz) is a
non-resource request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_TRUE = frozenset({"1", "true", "True", "TRUE", "t", "T"})


@dataclass(slots=True)
class RequestInfo:
    is_resource: bool
    path: str
    verb: str  # get list watch create update patch delete deletecollection, or lower-case method
    api_prefix: str = ""  # "api" | "apis"
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    parts: list[str] = field(default_factory=list)  # path parts after the subresource (proxy paths)


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "GET": "get", "HEAD": "get", "DELETE": "delete"}


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    segs = [s for s in path.strip("/").split("/")] if path.strip("/") else []
    method = method.upper()
    non_resource = RequestInfo(False, path, method.lower())
    if not segs or segs[0] not in ("api", "apis"):
        return non_resource
    prefix = segs[0]
    rest = segs[1:]
    if prefix == "api":
        if len(rest) < 2:  # /api, /api/v1
            return non_resource
        group, version, rest = "", rest[0], rest[1:]
    else:
        if len(rest) < 3:  # /apis, /apis/g, /apis/g/v
            return non_resource
        group, version, rest = rest[0], rest[1], rest[2:]
    info = RequestInfo(True, path, _METHOD_VERBS.get(method, method.lower()), prefix, group, version)
    if rest and rest[0] == "watch":
        info.verb = "watch"
        rest = rest[1:]
    if rest and rest[0] == "namespaces":
        if len(rest) > 1:
            info.namespace = rest[1]
            if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
                rest = rest[2:]
    if not rest:
        return non_resource
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    if len(rest) > 3:
        info.parts = rest[3:]
    if info.verb == "get" and not info.name:
        info.verb = "watch" if query.get("watch", "") in _TRUE else "list"
    if info.verb == "delete" and not info.name:
        info.verb = "deletecollection"
    return info
