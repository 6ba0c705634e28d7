"""RBAC rule evaluation: default deny, purely additive rules, no deny rules.

Upstream's `plugin/pkg/auth/authorizer/rbac`: a request is allowed when some rule of some
role bound to the user (ClusterRoleBindings everywhere, RoleBindings in their namespace)
matches verb, API group, resource (`pods/log` names a subresource, `*/scale` matches
every scale subresource), resourceNames, or nonResourceURLs (a trailing `*` is a prefix match).
The bindings and roles come from a `PolicySource` (cache.py feeds it from a store watch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from ..request import UserInfo
from .attrs import Attrs, Decision

Obj = dict[str, Any]


class PolicySource(Protocol):
    def cluster_role_bindings(self) -> Iterable[Obj]: ...
    def role_bindings(self, namespace: str) -> Iterable[Obj]: ...
    def cluster_role(self, name: str) -> Obj | None: ...
    def role(self, namespace: str, name: str) -> Obj | None: ...


def _has(values: Any, want: str) -> bool:
    return isinstance(values, list) and ("*" in values or want in values)


def verb_matches(rule: Obj, verb: str) -> bool:
    return _has(rule.get("verbs"), verb)


def group_matches(rule: Obj, group: str) -> bool:
    return _has(rule.get("apiGroups"), group)


def resource_matches(rule: Obj, resource: str, subresource: str) -> bool:
    res = rule.get("resources")
    if not isinstance(res, list):
        return False
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in res:
        if r == "*" or r == combined:
            return True
        if subresource and r == f"*/{subresource}":  # "*/scale" matches every scale subresource
            return True
    return False


def name_matches(rule: Obj, name: str) -> bool:
    names = rule.get("resourceNames")
    if not names:
        return True
    return bool(name) and name in names


def url_matches(rule: Obj, path: str) -> bool:
    for u in rule.get("nonResourceURLs") or ():
        if u == "*" or u == path:
            return True
        if u.endswith("*") and path.startswith(u[:-1]):
            return True
    return False


def rule_allows(a: Attrs, rule: Obj) -> bool:
    if a.resource_request:
        return (verb_matches(rule, a.verb) and group_matches(rule, a.api_group)
                and resource_matches(rule, a.resource, a.subresource) and name_matches(rule, a.name))
    return verb_matches(rule, a.verb) and url_matches(rule, a.path)


def rules_allow(a: Attrs, rules: Iterable[Obj]) -> bool:
    return any(rule_allows(a, r) for r in rules)


def subject_matches(subject: Any, user: UserInfo, binding_ns: str) -> bool:
    if not isinstance(subject, dict):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{name}"
    return False


def matching_subject(binding: Obj, user: UserInfo) -> Obj | None:
    ns = (binding.get("metadata") or {}).get("namespace") or ""
    for s in binding.get("subjects") or ():
        if subject_matches(s, user, ns):
            return dict(s)
    return None


def applies_to(binding: Obj, user: UserInfo) -> bool:
    return matching_subject(binding, user) is not None


def role_rules(src: PolicySource, ref: Any, binding_ns: str) -> list[Obj]:
    if not isinstance(ref, dict):
        return []
    role = src.cluster_role(ref.get("name", "")) if ref.get("kind") == "ClusterRole" or not binding_ns \
        else src.role(binding_ns, ref.get("name", ""))
    return [r for r in (role or {}).get("rules") or () if isinstance(r, dict)]


def describe(binding: Obj, subject: Obj) -> str:
    """Upstream's wording for what granted a request: `RoleBinding "b/ns" of ClusterRole "view" to User "u"`."""
    meta = binding.get("metadata") or {}
    ref = binding.get("roleRef") or {}
    ns = meta.get("namespace") or ""
    kind = "RoleBinding" if ns else "ClusterRoleBinding"
    name = f"{meta.get('name', '')}/{ns}" if ns else meta.get("name", "")
    who = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        who = f"{who}/{subject.get('namespace') or ns}"
    return f'{kind} "{name}" of {ref.get("kind", "")} "{ref.get("name", "")}" to {subject.get("kind")} "{who}"'


def visit_rules(src: PolicySource, user: UserInfo, namespace: str) -> Iterator[tuple[Obj, Obj, list[Obj]]]:
    """(binding, matched subject, rules) that apply to `user` in `namespace` ("" = cluster scope only)."""
    for b in src.cluster_role_bindings():
        subject = matching_subject(b, user)
        if subject is not None:
            yield b, subject, role_rules(src, b.get("roleRef"), "")
    if namespace:
        for b in src.role_bindings(namespace):
            subject = matching_subject(b, user)
            if subject is not None:
                yield b, subject, role_rules(src, b.get("roleRef"), namespace)


def rules_for(src: PolicySource, user: UserInfo, namespace: str) -> list[Obj]:
    return [r for _, _, rules in visit_rules(src, user, namespace) for r in rules]


class RBACAuthorizer:
    def __init__(self, src: PolicySource):
        self.src = src

    def decide(self, a: Attrs) -> tuple[Decision, str]:
        ns = a.namespace if a.resource_request else ""
        for binding, subject, rules in visit_rules(self.src, a.user, ns):
            if rules_allow(a, rules):
                return Decision.ALLOW, "RBAC: allowed by " + describe(binding, subject)
        return Decision.NO_OPINION, ""
