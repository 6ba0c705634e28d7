"""admissionregistration.k8s.io/v1 Mutating/ValidatingWebhookConfiguration: defaults and validation.

Upstream 1.32 defaults (pkg/apis/admissionregistration/v1/defaults.go): failurePolicy Fail,
matchPolicy Equivalent, namespaceSelector and objectSelector `{}` (match everything),
timeoutSeconds 10, rule scope `*`, reinvocationPolicy Never (mutating), a service port of 443.
Validation keeps what the dispatcher relies on: unique names, exactly one of url/service,
sideEffects None or NoneOnDryRun, admissionReviewVersions naming v1 or v1beta1, timeout 1..30.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, duplicate, invalid, not_supported, required
from ..strategy import Strategy, register

Obj = dict[str, Any]
SIDE_EFFECTS = ["None", "NoneOnDryRun"]
FAILURE_POLICIES = ["Fail", "Ignore"]


def default_rules(rules: Any) -> None:
    for r in rules or []:
        if isinstance(r, dict) and not r.get("scope"):
            r["scope"] = "*"


def default_match(hook: Obj) -> None:
    hook.setdefault("failurePolicy", "Fail")
    hook.setdefault("matchPolicy", "Equivalent")
    if hook.get("namespaceSelector") is None:
        hook["namespaceSelector"] = {}
    if hook.get("objectSelector") is None:
        hook["objectSelector"] = {}
    default_rules(hook.get("rules"))


class _WebhookConfigStrategy(Strategy):
    group, namespaced = "admissionregistration.k8s.io", False
    mutating = False

    def default(self, obj: Obj) -> None:
        for hook in obj.get("webhooks") or []:
            if not isinstance(hook, dict):
                continue
            default_match(hook)
            hook.setdefault("timeoutSeconds", 10)
            if self.mutating:
                hook.setdefault("reinvocationPolicy", "Never")
            svc = (hook.get("clientConfig") or {}).get("service")
            if isinstance(svc, dict):
                svc.setdefault("port", 443)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        seen: set[str] = set()
        for i, hook in enumerate(obj.get("webhooks") or []):
            p = f"webhooks[{i}]"
            if not isinstance(hook, dict):
                errs.append(invalid(p, hook, "must be an object"))
                continue
            name = hook.get("name")
            if not name:
                errs.append(required(f"{p}.name", ""))
            elif name in seen:
                errs.append(duplicate(f"{p}.name", name))
            else:
                seen.add(name)
            cc = hook.get("clientConfig") or {}
            if bool(cc.get("url")) == bool(cc.get("service")):
                errs.append(required(f"{p}.clientConfig", "exactly one of url or service is required"))
            if hook.get("sideEffects") not in SIDE_EFFECTS:
                if hook.get("sideEffects") is None:
                    errs.append(required(f"{p}.sideEffects", ""))
                else:
                    errs.append(not_supported(f"{p}.sideEffects", hook.get("sideEffects"), SIDE_EFFECTS))
            if hook.get("failurePolicy") not in FAILURE_POLICIES:
                errs.append(not_supported(f"{p}.failurePolicy", hook.get("failurePolicy"), FAILURE_POLICIES))
            versions = hook.get("admissionReviewVersions") or []
            if not versions:
                errs.append(required(f"{p}.admissionReviewVersions", "must specify one of v1, v1beta1"))
            elif not any(v in ("v1", "v1beta1") for v in versions):
                errs.append(invalid(f"{p}.admissionReviewVersions", versions, "must include at least one of v1, v1beta1"))
            t = hook.get("timeoutSeconds")
            if not isinstance(t, int) or not 1 <= t <= 30:
                errs.append(invalid(f"{p}.timeoutSeconds", t, "the timeout value must be between 1 and 30 seconds"))
        return errs


class MutatingWebhookConfigurationStrategy(_WebhookConfigStrategy):
    kind = "MutatingWebhookConfiguration"
    mutating = True


class ValidatingWebhookConfigurationStrategy(_WebhookConfigStrategy):
    kind = "ValidatingWebhookConfiguration"


register(MutatingWebhookConfigurationStrategy())
register(ValidatingWebhookConfigurationStrategy())
