"""Impersonation headers (`kubectl --as`, `--as-group`, `--as-uid`), upstream's filter.

`Impersonate-User`, `Impersonate-Group` (repeatable), `Impersonate-Uid` and `Impersonate-Extra-<key>`
replace the authenticated user once the requester is authorized for the `impersonate` verb on
each (users / serviceaccounts / groups in the core group; uids and userextras/<key> in
authentication.k8s.io). The impersonated user gets `system:authenticated` (or, for service
accounts, also their `system:serviceaccounts` groups) like upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from tugboat.api.errors import ApiError

from ..request import UserInfo
from .attrs import Attrs, Decision, forbidden_message

Decide = Callable[[Attrs], tuple[Decision, str]]
_SA = "system:serviceaccount:"


def _getall(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    v = headers.get(name)
    return [v] if v else []


def _check(decide: Decide | None, a: Attrs) -> None:
    if decide is None or decide(a)[0] is Decision.ALLOW:
        return
    raise ApiError(403, "Forbidden", forbidden_message(a), {"name": a.name, "kind": a.resource,
                                                            **({"group": a.api_group} if a.api_group else {})})


def impersonate(headers: Mapping[str, str], user: UserInfo, decide: Decide | None) -> UserInfo:
    """The user the request acts as: `user` itself when there are no impersonation headers."""
    name = headers.get("Impersonate-User", "")
    groups = _getall(headers, "Impersonate-Group")
    uid = headers.get("Impersonate-Uid", "")
    extra: dict[str, list[str]] = {}
    for k in dict.fromkeys(headers):  # a repeated header is one key with several values
        if k.lower().startswith("impersonate-extra-"):
            extra.setdefault(unquote(k[len("impersonate-extra-"):]).lower(), []).extend(_getall(headers, k))
    if not name:
        if groups or uid or extra:
            raise ApiError(500, "InternalError", "Internal error occurred: requested "
                           + repr({"groups": groups}) + " without impersonating a user")
        return user
    if name.startswith(_SA) and name.count(":") == 3:
        _, _, ns, sa = name.split(":")
        _check(decide, Attrs(user, "impersonate", True, ns, "", "serviceaccounts", "", sa))
    else:
        _check(decide, Attrs(user, "impersonate", True, "", "", "users", "", name))
    for g in groups:
        _check(decide, Attrs(user, "impersonate", True, "", "", "groups", "", g))
    if uid:
        _check(decide, Attrs(user, "impersonate", True, "", "authentication.k8s.io", "uids", "", uid))
    for k, values in extra.items():
        for v in values:
            _check(decide, Attrs(user, "impersonate", True, "", "authentication.k8s.io", "userextras", k, v))
    out_groups = list(groups)
    if name.startswith(_SA) and name.count(":") == 3:
        ns = name.split(":")[2]
        for g in ("system:serviceaccounts", f"system:serviceaccounts:{ns}"):
            if g not in out_groups:
                out_groups.append(g)
    auth_group = "system:unauthenticated" if name == "system:anonymous" else "system:authenticated"
    if auth_group not in out_groups:
        out_groups.append(auth_group)
    ex: dict[str, Any] = extra
    return UserInfo(name, tuple(out_groups), uid, ex)
