"""policy/v1 PodDisruptionBudget: upstream 1.32 validation (no v1 defaults upstream).

An empty selector in policy/v1 selects every pod in the namespace (unlike v1beta1), and a
budget says either how many pods must stay (minAvailable) or how many may go (maxUnavailable),
never both.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, not_supported
from ..selectors import validate_label_selector
from ..strategy import Strategy, register
from .apps_common import not_more_than_100_percent, validate_positive_int_or_percent
from .core_common import as_dict, validate_nonnegative

Obj = dict[str, Any]
EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


def validate_pdb_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    mn, mu = spec.get("minAvailable"), spec.get("maxUnavailable")
    if mn is not None and mu is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for name, v in (("minAvailable", mn), ("maxUnavailable", mu)):
        if v is not None:
            errs += validate_positive_int_or_percent(v, f"spec.{name}")
            errs += not_more_than_100_percent(v, f"spec.{name}")
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in EVICTION_POLICIES:
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, EVICTION_POLICIES))
    return errs


class PodDisruptionBudgetStrategy(Strategy):
    group, kind, has_status = "policy", "PodDisruptionBudget", True

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + validate_pdb_spec(as_dict(obj.get("spec")))

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        st = as_dict(new.get("status"))
        errs: list[FieldError] = []
        for f in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods", "observedGeneration"):
            errs += validate_nonnegative(st.get(f), f"status.{f}")
        return errs


register(PodDisruptionBudgetStrategy())
