"""Authorization attributes: what a request asks to do, independent of HTTP.

Upstream's `authorizer.Attributes`. Built once from a `Req` (or from an access review's
spec) so every authorizer and every review answers the same question the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..request import Req, UserInfo


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True, slots=True)
class Attrs:
    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    field_selector: str = ""  # list/watch: lets the node authorizer see `metadata.name=x`


def attrs_from_req(req: Req, verb: str | None = None) -> Attrs:
    info = req.info
    if not info.is_resource:
        return Attrs(req.user, verb or info.verb, False, path=info.path)
    ns = info.namespace
    if info.group == "" and info.resource == "namespaces" and info.name and not ns:
        ns = info.name
    name = info.name
    fs = req.query.get("fieldSelector", "") if info.verb in ("list", "watch") else ""
    if not name and fs:  # upstream RequestInfo: a metadata.name field selector names the object
        for term in fs.split(","):
            k, sep, v = term.partition("=")
            if sep and k.strip() == "metadata.name":
                name = v.lstrip("=").strip()
    return Attrs(req.user, verb or info.verb, True, ns, info.group, info.resource, info.subresource, name,
                 info.path, fs)


def forbidden_message(a: Attrs) -> str:
    """Upstream's responsewriters.forbiddenMessage, wrapped as NewForbidden does."""
    user = a.user.name
    if not a.resource_request:
        return f'forbidden: User "{user}" cannot {a.verb} path "{a.path}"'
    res = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    if a.namespace:
        why = f'User "{user}" cannot {a.verb} resource "{res}" in API group "{a.api_group}" in the namespace "{a.namespace}"'
    else:
        why = f'User "{user}" cannot {a.verb} resource "{res}" in API group "{a.api_group}" at the cluster scope'
    qualified = f"{a.resource}.{a.api_group}" if a.api_group else a.resource
    if a.name:
        return f'{qualified} "{a.name}" is forbidden: {why}'
    return f"{qualified} is forbidden: {why}"
