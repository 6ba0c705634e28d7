"""Privilege-escalation prevention on writes of roles and bindings (enforced by the RBAC API itself).

Upstream's rbac/validation.ConfirmNoEscalation and the policy-based role/binding storage: a user
may write a Role or ClusterRole only if they already hold every permission in it at that scope
(or hold `escalate` on it), and a binding only if they hold `bind` on the referenced role or
every permission of that role; only a cluster admin may set an aggregationRule (it could pull
in any rule). `system:masters` and the server's own writes bypass it. The 403
lists the missing rules the way upstream does (compacted, one per line).
"""

from __future__ import annotations

from typing import Any

from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from ..registry import WriteOpts
from ..request import UserInfo
from .attrs import Attrs, Decision
from .rbac import PolicySource, role_rules, rules_for
from .union import MASTERS, UnionAuthorizer

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
FULL_AUTHORITY = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, {"verbs": ["*"], "nonResourceURLs": ["*"]}]


def _go_q(items: list[str]) -> str:
    return "[" + " ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "]"


def atomic(rule: Obj) -> list[Obj]:
    """Break a rule into single-verb, single-group, single-resource(-name) pieces."""
    out: list[Obj] = []
    verbs = rule.get("verbs") or []
    if rule.get("nonResourceURLs"):
        for u in rule["nonResourceURLs"]:
            out += [{"nonResourceURLs": [u], "verbs": [v]} for v in verbs]
        return out
    names = rule.get("resourceNames") or [None]
    for g in rule.get("apiGroups") or []:
        for res in rule.get("resources") or []:
            for n in names:
                for v in verbs:
                    piece: Obj = {"apiGroups": [g], "resources": [res], "verbs": [v]}
                    if n is not None:
                        piece["resourceNames"] = [n]
                    out.append(piece)
    return out


def _covers_one(owner: Obj, want: Obj) -> bool:
    ov = owner.get("verbs") or []
    if "*" not in ov and want["verbs"][0] not in ov:
        return False
    if "nonResourceURLs" in want:
        u = want["nonResourceURLs"][0]
        return any(o == u or o == "*" or (o.endswith("*") and u.startswith(o[:-1]))
                   for o in owner.get("nonResourceURLs") or ())
    og, orr = owner.get("apiGroups") or [], owner.get("resources") or []
    g, res = want["apiGroups"][0], want["resources"][0]
    if "*" not in og and g not in og:
        return False
    sub = res.partition("/")[2]
    if "*" not in orr and res not in orr and not (sub and f"*/{sub}" in orr):
        return False
    on = owner.get("resourceNames") or []
    return not on or (want.get("resourceNames") or [None])[0] in on


def missing_rules(owner: list[Obj], wanted: list[Obj]) -> list[Obj]:
    missing: list[Obj] = []
    for rule in wanted:
        for piece in atomic(rule):
            if not any(_covers_one(o, piece) for o in owner) and piece not in missing:
                missing.append(piece)
    return missing


def compact_string(rule: Obj) -> str:
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("nonResourceURLs", "NonResourceURLs"),
                       ("resourceNames", "ResourceNames"), ("verbs", "Verbs")):
        if rule.get(key):
            parts.append(f"{label}:{_go_q(rule[key])}")
    return "{" + ", ".join(parts) + "}"


def compact(rules: list[Obj]) -> list[Obj]:
    """Merge pieces that differ only in verb (upstream CompactRules), sorted by their text."""
    merged: dict[tuple[Any, ...], Obj] = {}
    for r in rules:
        k = tuple((key, tuple(r.get(key) or ())) for key in ("apiGroups", "resources", "nonResourceURLs", "resourceNames"))
        if k in merged:
            merged[k]["verbs"].append(r["verbs"][0])
        else:
            merged[k] = {key: list(r[key]) for key in r}
    return sorted(merged.values(), key=compact_string)


def escalation_error(rt: ResourceType, name: str, user: UserInfo, missing: list[Obj]) -> ApiError:
    lines = "\n".join(compact_string(r) for r in compact(missing))
    msg = (f'{rt.plural}.{RBAC} "{name}" is forbidden: user "{user.name}" (groups={_go_q(list(user.groups))}) '
           f"is attempting to grant RBAC permissions not currently held:\n{lines}")
    return ApiError(403, "Forbidden", msg, {"name": name, "group": RBAC, "kind": rt.plural})


class EscalationCheck:
    """Admission hook for the four RBAC kinds."""

    def __init__(self, policy: PolicySource, authorizer: UnionAuthorizer):
        self.policy = policy
        self.authorizer = authorizer

    def _allowed(self, user: UserInfo, verb: str, resource: str, ns: str, name: str) -> bool:
        a = Attrs(user, verb, True, ns, RBAC, resource, "", name)
        return self.authorizer.decide(a)[0] is Decision.ALLOW

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if rt.group != RBAC or new is None or op not in ("CREATE", "UPDATE"):
            return
        user = opts.user
        if user is None or MASTERS in user.groups or opts.subresource:
            return
        meta = new.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name") or ""
        if rt.kind in ("Role", "ClusterRole"):
            if self._allowed(user, "escalate", rt.plural, ns, name):
                return
            agg = new.get("aggregationRule")
            if agg and agg != (old or {}).get("aggregationRule") and missing_rules(rules_for(self.policy, user, ""),
                                                                                   FULL_AUTHORITY):
                raise ApiError(403, "Forbidden", f'{rt.plural}.{RBAC} "{name}" is forbidden: must have cluster-admin '
                               "privileges to use the aggregationRule", {"name": name, "group": RBAC, "kind": rt.plural})
            wanted = [r for r in new.get("rules") or () if isinstance(r, dict)]
        elif rt.kind in ("RoleBinding", "ClusterRoleBinding"):
            ref = new.get("roleRef") or {}
            ref_res = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            if self._allowed(user, "bind", ref_res, ns, ref.get("name") or ""):
                return
            ref_name = ref.get("name") or ""
            found = self.policy.role(ns, ref_name) if ref_res == "roles" else self.policy.cluster_role(ref_name)
            if found is None:  # upstream: the rules of a missing role cannot be checked, so no
                raise ApiError(403, "Forbidden", f'{rt.plural}.{RBAC} "{name}" is forbidden: '
                               f'{ref_res}.{RBAC} "{ref_name}" not found', {"name": name, "group": RBAC, "kind": rt.plural})
            wanted = role_rules(self.policy, ref, ns)
        else:
            return
        missing = missing_rules(rules_for(self.policy, user, ns), wanted)
        if missing:
            raise escalation_error(rt, name, user, missing)
