"""admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and its Binding: defaults, validation.

Upstream 1.32 defaults: failurePolicy Fail, matchConstraints.matchPolicy Equivalent, empty
namespace/object selectors (match all), rule scope `*`. Validation checks what evaluation
relies on: resourceRules present, at least one validation or audit annotation, each with an
expression; CEL compilation is checked by the apiserver plugin (this package stays pure).
A binding needs a policyName and validationActions from Deny/Warn/Audit without duplicates,
and Deny together with Warn is refused (upstream: Warn is for non-denying rollout).
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, duplicate, invalid, not_supported, required
from ..strategy import Strategy, register
from .admissionregistration_webhooks import default_rules

Obj = dict[str, Any]
ACTIONS = ["Audit", "Deny", "Warn"]
REASONS = ["Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"]


def _default_match(mr: Any) -> None:
    if not isinstance(mr, dict):
        return
    mr.setdefault("matchPolicy", "Equivalent")
    if mr.get("namespaceSelector") is None:
        mr["namespaceSelector"] = {}
    if mr.get("objectSelector") is None:
        mr["objectSelector"] = {}
    default_rules(mr.get("resourceRules"))
    default_rules(mr.get("excludeResourceRules"))


class ValidatingAdmissionPolicyStrategy(Strategy):
    group, kind, namespaced = "admissionregistration.k8s.io", "ValidatingAdmissionPolicy", False
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("failurePolicy", "Fail")
        _default_match(spec.get("matchConstraints"))

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec") or {}
        if spec.get("failurePolicy") not in ("Fail", "Ignore"):
            errs.append(not_supported("spec.failurePolicy", spec.get("failurePolicy"), ["Fail", "Ignore"]))
        if not ((spec.get("matchConstraints") or {}).get("resourceRules")):
            errs.append(required("spec.matchConstraints.resourceRules", ""))
        if not spec.get("validations") and not spec.get("auditAnnotations"):
            errs.append(required("spec.validations", "validations or auditAnnotations must contain at least one item"))
        for i, v in enumerate(spec.get("validations") or []):
            if not isinstance(v, dict) or not v.get("expression"):
                errs.append(required(f"spec.validations[{i}].expression", ""))
            elif v.get("reason") is not None and v["reason"] not in REASONS:
                errs.append(not_supported(f"spec.validations[{i}].reason", v["reason"], REASONS))
        for i, c in enumerate(spec.get("matchConditions") or []):
            if not isinstance(c, dict) or not c.get("name") or not c.get("expression"):
                errs.append(required(f"spec.matchConditions[{i}]", "name and expression are required"))
        return errs


class ValidatingAdmissionPolicyBindingStrategy(Strategy):
    group, kind, namespaced = "admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", False

    def default(self, obj: Obj) -> None:
        _default_match((obj.get("spec") or {}).get("matchResources"))

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec") or {}
        if not spec.get("policyName"):
            errs.append(required("spec.policyName", ""))
        acts = spec.get("validationActions") or []
        if not acts:
            errs.append(required("spec.validationActions", ""))
        seen: set[str] = set()
        for i, a in enumerate(acts):
            if a not in ACTIONS:
                errs.append(not_supported(f"spec.validationActions[{i}]", a, ACTIONS))
            elif a in seen:
                errs.append(duplicate(f"spec.validationActions[{i}]", a))
            seen.add(a)
        if "Deny" in seen and "Warn" in seen:
            errs.append(invalid("spec.validationActions", acts, "may not contain both Deny and Warn"))
        return errs


register(ValidatingAdmissionPolicyStrategy())
register(ValidatingAdmissionPolicyBindingStrategy())
