"""The Namespace strategy (upstream `pkg/registry/core/namespace/strategy.go`).

Namespaces are cluster-scoped, named by DNS labels, and carry the `kubernetes` finalizer so
the namespace controller can empty them before they disappear. The server stamps the label
`kubernetes.io/metadata.name` with the name so selectors (NetworkPolicy, admission webhooks)
can pick namespaces by name; users cannot remove or change it.
"""

from __future__ import annotations

from ..errors import FieldError, invalid, not_supported
from ..strategy import Obj, Strategy, register
from ..validation import is_qualified_name
from .core_common import as_dict, as_list

NAME_LABEL = "kubernetes.io/metadata.name"
FINALIZER = "kubernetes"
PHASES = ["Active", "Terminating"]


class NamespaceStrategy(Strategy):
    kind = "Namespace"
    namespaced = False
    has_status = True
    name_validator = "label"
    selectable_fields = ("status.phase",)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        fins = spec.get("finalizers")
        if not isinstance(fins, list):
            fins = spec["finalizers"] = []
        if FINALIZER not in fins:
            fins.append(FINALIZER)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        # spec.finalizers change only through /finalize.
        old_fins = as_dict(old.get("spec")).get("finalizers")
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        if old_fins is None:
            spec.pop("finalizers", None)
        else:
            spec["finalizers"] = list(old_fins)

    def prepare_for_finalize_update(self, new: Obj, old: Obj) -> None:
        """/finalize: only spec.finalizers changes."""
        fins = as_dict(new.get("spec")).get("finalizers")
        new.clear()
        new.update({k: v for k, v in old.items()})
        new["spec"] = {**as_dict(old.get("spec")), "finalizers": fins or []}

    def default(self, obj: Obj) -> None:
        meta = obj.get("metadata")
        if isinstance(meta, dict) and meta.get("name"):
            labels = meta.get("labels")
            if not isinstance(labels, dict):
                labels = meta["labels"] = {}
            labels[NAME_LABEL] = meta["name"]
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Active"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        errs += validate_finalizers(as_dict(obj.get("spec")).get("finalizers"), "spec.finalizers")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        phase = as_dict(new.get("status")).get("phase")
        if phase and phase not in PHASES:
            return [not_supported("status.phase", phase, PHASES)]
        return []


def validate_finalizers(fins: object, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, f in enumerate(as_list(fins)):
        p = f"{path}[{i}]"
        if not isinstance(f, str):
            errs.append(invalid(p, f, "must be a string"))
            continue
        errs += [invalid(p, f, m) for m in is_qualified_name(f)]
        if "/" not in f and f != FINALIZER:
            errs.append(invalid(p, f, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


register(NamespaceStrategy())
