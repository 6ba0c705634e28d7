"""rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Upstream 1.32 defaults and validation. RBAC names are path segments (so `system:node` is a
valid ClusterRole name), a binding's roleRef can never change (delete and recreate instead,
which is what `kubectl auth reconcile` does), and User/Group subjects get the RBAC apiGroup.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, not_supported, required
from ..selectors import label_selector_from_dict, validate_label_selector
from ..strategy import Strategy, register
from ..validation import is_dns1123_subdomain, is_path_segment_name
from .core_common import as_dict, as_list

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"


def validate_policy_rule(rule: Any, namespaced: bool, path: str) -> list[FieldError]:
    r = as_dict(rule)
    errs: list[FieldError] = []
    if not r.get("verbs"):
        errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = r.get("nonResourceURLs")
    if urls:
        if namespaced:
            errs.append(invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if r.get("apiGroups") or r.get("resources") or r.get("resourceNames"):
            errs.append(invalid(f"{path}.nonResourceURLs", urls,
                                "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not r.get("apiGroups"):
        errs.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not r.get("resources"):
        errs.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errs


def validate_subject(subject: Any, namespaced: bool, path: str) -> list[FieldError]:
    s = as_dict(subject)
    errs: list[FieldError] = []
    name, kind, group = s.get("name") or "", s.get("kind") or "", s.get("apiGroup") or ""
    if not name:
        errs.append(required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            errs += [invalid(f"{path}.name", name, m) for m in is_dns1123_subdomain(str(name))]
        if group:
            errs.append(not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not s.get("namespace"):
            errs.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        errs.append(not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return errs


def _default_binding(obj: Obj) -> None:
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for s in as_list(obj.get("subjects")):
        if isinstance(s, dict) and not s.get("apiGroup"):
            if s.get("kind") in ("User", "Group"):
                s["apiGroup"] = GROUP
            elif s.get("kind") == "ServiceAccount":
                s["apiGroup"] = ""


class _RBACStrategy(Strategy):
    group = GROUP
    name_validator = "path"


class RoleStrategy(_RBACStrategy):
    kind = "Role"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        for i, rule in enumerate(as_list(obj.get("rules"))):
            errs += validate_policy_rule(rule, self.namespaced, f"rules[{i}]")
        return errs


class ClusterRoleStrategy(RoleStrategy):
    kind, namespaced = "ClusterRole", False

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        agg = obj.get("aggregationRule")
        if agg is not None:
            sels = as_list(as_dict(agg).get("clusterRoleSelectors"))
            p = "aggregationRule.clusterRoleSelectors"
            if not sels:
                errs.append(required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
            for i, sel in enumerate(sels):
                errs += validate_label_selector(sel, f"{p}[{i}]")
                try:
                    label_selector_from_dict(as_dict(sel))
                except ValueError:
                    errs.append(invalid(f"{p}[{i}]", sel, "invalid label selector."))
        return errs


class RoleBindingStrategy(_RBACStrategy):
    kind = "RoleBinding"
    ref_kinds = ["Role", "ClusterRole"]

    def default(self, obj: Obj) -> None:
        _default_binding(obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        ref = obj.get("roleRef")
        if ref is None:
            errs.append(required("roleRef"))
        ref = as_dict(ref)
        if ref.get("apiGroup", "") != GROUP:
            errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
        if ref.get("kind", "") not in self.ref_kinds:
            errs.append(not_supported("roleRef.kind", ref.get("kind", ""), self.ref_kinds))
        name = ref.get("name") or ""
        if not name:
            errs.append(required("roleRef.name"))
        else:
            errs += [invalid("roleRef.name", name, m) for m in is_path_segment_name(str(name))]
        for i, s in enumerate(as_list(obj.get("subjects"))):
            errs += validate_subject(s, self.namespaced, f"subjects[{i}]")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        if new.get("roleRef") != old.get("roleRef"):
            errs.append(invalid("roleRef", new.get("roleRef"), "cannot change roleRef"))
        return errs


class ClusterRoleBindingStrategy(RoleBindingStrategy):
    kind, namespaced = "ClusterRoleBinding", False
    ref_kinds = ["ClusterRole"]


register(RoleStrategy())
register(ClusterRoleStrategy())
register(RoleBindingStrategy())
register(ClusterRoleBindingStrategy())
