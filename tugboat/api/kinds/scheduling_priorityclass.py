"""scheduling.k8s.io/v1 PriorityClass: upstream 1.32 defaults and validation.

Names starting with `system-` are reserved for the two built-in classes (with their fixed
values), user classes may not exceed one billion, and a class's value never changes (pods
copy it at admission). "Only one globalDefault" is enforced by admission, not here.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, not_supported
from ..strategy import Strategy, register
from .apps_common import immutable
from .core_common import is_int

Obj = dict[str, Any]
SYSTEM_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
SYSTEM_PRIORITY_CLASSES = {
    "system-node-critical": SYSTEM_CRITICAL_PRIORITY + 1000,
    "system-cluster-critical": SYSTEM_CRITICAL_PRIORITY,
}
PREEMPTION_POLICIES = ["Never", "PreemptLowerPriority"]


def known_system_class_error(name: str, value: Any, global_default: bool) -> str | None:
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


class PriorityClassStrategy(Strategy):
    group, kind, namespaced = "scheduling.k8s.io", "PriorityClass", False

    def default(self, obj: Obj) -> None:
        if obj.get("preemptionPolicy") is None:
            obj["preemptionPolicy"] = "PreemptLowerPriority"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        name = str((obj.get("metadata") or {}).get("name") or "")
        value = obj.get("value", 0)
        if name.startswith(SYSTEM_PREFIX):
            err = known_system_class_error(name, value, bool(obj.get("globalDefault")))
            if err:
                errs.append(forbidden("metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix are "
                                                       f"reserved for system use only. error: {err}"))
        elif is_int(value) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
            errs.append(forbidden("value", "maximum allowed value of a user defined priority is "
                                           f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
        pp = obj.get("preemptionPolicy")
        if pp is not None and pp not in PREEMPTION_POLICIES:
            errs.append(not_supported("preemptionPolicy", pp, PREEMPTION_POLICIES))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        if new.get("value", 0) != old.get("value", 0):
            errs.append(forbidden("value", "may not be changed in an update."))
        errs += immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy")
        return errs


register(PriorityClassStrategy())
