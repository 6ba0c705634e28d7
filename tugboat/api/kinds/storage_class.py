"""storage.k8s.io/v1 StorageClass: upstream 1.32 defaults and validation.

Existing volumes were provisioned from a class's provisioner and parameters, so upstream
forbids changing them (and the reclaim policy and binding mode) after creation.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required, too_long
from ..strategy import Strategy, register
from ..validation import is_qualified_name
from .apps_common import immutable
from .core_common import as_dict

Obj = dict[str, Any]
RECLAIM_POLICIES = ["Delete", "Retain"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]
MAX_PARAMETERS = 512
MAX_PARAMETERS_SIZE = 256 * 1024


def _validate_parameters(params: Any) -> list[FieldError]:
    if params is None:
        return []
    p = as_dict(params)
    if len(p) > MAX_PARAMETERS:
        return [too_long("parameters", MAX_PARAMETERS)]
    errs: list[FieldError] = []
    total = 0
    for k, v in p.items():
        if not k:
            errs.append(invalid("parameters", k, "field can not be empty."))
        total += len(k) + len(str(v))
    if total > MAX_PARAMETERS_SIZE:
        errs.append(too_long("parameters", MAX_PARAMETERS_SIZE))
    return errs


class StorageClassStrategy(Strategy):
    group, kind, namespaced = "storage.k8s.io", "StorageClass", False

    def default(self, obj: Obj) -> None:
        if not obj.get("reclaimPolicy"):
            obj["reclaimPolicy"] = "Delete"
        if not obj.get("volumeBindingMode"):
            obj["volumeBindingMode"] = "Immediate"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        prov = obj.get("provisioner") or ""
        if not prov:
            errs.append(required("provisioner"))
        else:
            errs += [invalid("provisioner", prov, m) for m in is_qualified_name(str(prov).lower())]
        errs += _validate_parameters(obj.get("parameters"))
        rp = obj.get("reclaimPolicy")
        if rp and rp not in RECLAIM_POLICIES:
            errs.append(not_supported("reclaimPolicy", rp, RECLAIM_POLICIES))
        mode = obj.get("volumeBindingMode")
        if mode is None:
            errs.append(required("volumeBindingMode"))
        elif mode not in BINDING_MODES:
            errs.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
        for i, term in enumerate(obj.get("allowedTopologies") or []):
            exprs = as_dict(term).get("matchLabelExpressions") or []
            if not exprs:
                errs.append(required(f"allowedTopologies[{i}].matchLabelExpressions",
                                     "must have at least one label selector requirement"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        if (new.get("parameters") or {}) != (old.get("parameters") or {}):
            errs.append(forbidden("parameters", "updates to parameters are forbidden."))
        if new.get("provisioner") != old.get("provisioner"):
            errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
        if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
            errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        errs += immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode")
        return errs


register(StorageClassStrategy())
