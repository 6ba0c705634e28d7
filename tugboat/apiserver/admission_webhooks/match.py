"""Which webhooks (and policies) a request reaches: rules, selectors, matchConditions.

Upstream 1.32 (apiserver/pkg/admission/plugin/webhook/predicates and .../generic):
* a rule matches on operations, apiGroups, apiVersions, resources (`*`, `pods`, `pods/status`,
  `*/status`, `pods/*`) and scope (`Cluster`, `Namespaced`, `*`);
* namespaceSelector is evaluated on the labels of the object's namespace (on the Namespace
  itself for namespaces; cluster-scoped objects always match);
* objectSelector matches if the new or the old object's labels match;
* matchConditions are CEL expressions over object/oldObject/request, all must be true; an
  evaluation error counts as a match failure handled by failurePolicy (Fail: refuse).
Objects of admissionregistration.k8s.io are never sent to webhooks (no lock-out).
"""

from __future__ import annotations

from typing import Any

from tugboat.api.scheme import ResourceType
from tugboat.api.selectors import label_selector_from_dict

from ..admission_vap import cel

Obj = dict[str, Any]


def _resource_matches(patterns: list[str], resource: str, sub: str) -> bool:
    for p in patterns:
        if p == "*" and not sub:
            return True
        res, _, psub = p.partition("/")
        if res not in ("*", resource):
            continue
        if (psub or "") == sub or (psub == "*" and sub):
            return True
    return False


def rule_matches(rule: Obj, op: str, rt: ResourceType, sub: str) -> bool:
    ops = rule.get("operations") or []
    if "*" not in ops and op not in ops:
        return False
    groups, versions = rule.get("apiGroups") or [], rule.get("apiVersions") or []
    if "*" not in groups and rt.group not in groups:
        return False
    if "*" not in versions and rt.version not in versions:
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and rt.namespaced or scope == "Namespaced" and not rt.namespaced:
        return False
    return _resource_matches(list(rule.get("resources") or []), rt.plural, sub)


def rules_match(rules: list[Obj], op: str, rt: ResourceType, sub: str) -> bool:
    return any(isinstance(r, dict) and rule_matches(r, op, rt, sub) for r in rules)


def excluded(rules: list[Obj], op: str, rt: ResourceType, sub: str) -> bool:
    return rules_match(rules, op, rt, sub)


def selector_matches(sel: Obj | None, labels: dict[str, Any] | None) -> bool:
    if sel is None:
        return True
    try:
        return label_selector_from_dict(sel).matches(labels or {})
    except ValueError:
        return False


def object_selected(sel: Obj | None, new: Obj | None, old: Obj | None) -> bool:
    if not sel:
        return True
    return any(selector_matches(sel, ((o or {}).get("metadata") or {}).get("labels"))
               for o in (new, old) if o is not None)


def conditions_match(conds: list[Obj], activation: dict[str, Any]) -> tuple[bool, str]:
    """(matched, error): error is non-empty when an expression could not be evaluated."""
    errs = []
    for c in conds:
        try:
            if cel.evaluate(str(c.get("expression", "")), activation) is not True:
                return False, ""
        except cel.CelError as e:
            errs.append(f"{c.get('name', '')}: {e}")
    return (not errs), "; ".join(errs)
