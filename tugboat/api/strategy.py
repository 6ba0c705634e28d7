"""Per-kind behaviour the generic REST store needs (upstream's registry "strategy").

One `Strategy` per storage kind, registered by (group, kind). The API server's generic store
calls these hooks around every write; everything kind-specific lives here, nothing about
HTTP or storage. All hooks take and mutate plain dicts shaped like Kubernetes JSON.

Order on create:  prepare_for_create → default → validate          (then admission, store)
Order on update:  prepare_for_update(new, old) → default → validate + validate_update
Status update:    prepare_for_status_update(new, old) → validate_status_update
"""

from __future__ import annotations

from typing import Any

from .errors import FieldError
from .validation import validate_object_meta, validate_object_meta_update

Obj = dict[str, Any]


class Strategy:
    group: str = ""
    kind: str = ""
    namespaced: bool = True
    # True when the kind has a status subresource: the main endpoint then ignores status
    # changes and /status ignores everything but status.
    has_status: bool = False
    # Whether metadata.name may be a DNS-1123 subdomain (default) or must be a label, etc.
    name_validator: str = "subdomain"  # "subdomain" | "label" | "dns1035" | "path"
    # Field selector labels this kind supports besides metadata.name / metadata.namespace.
    selectable_fields: tuple[str, ...] = ()

    # ---- create --------------------------------------------------------------------------
    def prepare_for_create(self, obj: Obj) -> None:
        """Clear what users may not set on create (status, when the kind has a status)."""
        if self.has_status:
            obj.pop("status", None)

    def default(self, obj: Obj) -> None:
        """Fill upstream's defaults in place (idempotent)."""

    def validate(self, obj: Obj) -> list[FieldError]:
        return validate_object_meta(obj.get("metadata") or {}, self.namespaced, self.name_validator)

    # ---- update --------------------------------------------------------------------------
    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Keep status from the stored object when status is a separate subresource."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Checks that compare with the stored object (immutable fields). `validate(new)` is
        run as well, by the caller."""
        return validate_object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})

    def spec_changed(self, new: Obj, old: Obj) -> bool:
        """Whether metadata.generation must bump: any change outside metadata and status."""
        for k in set(new) | set(old):
            if k in ("metadata", "status", "apiVersion", "kind"):
                continue
            if new.get(k) != old.get(k):
                return True
        return False

    # ---- status subresource -------------------------------------------------------------
    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        """Only status (and nothing else) changes through /status."""
        status = new.get("status")
        keep_meta = new.get("metadata") or {}
        new.clear()
        new.update({k: v for k, v in old.items() if k != "status"})
        if status is not None:
            new["status"] = status
        # Upstream lets /status writes change labels/annotations? No: metadata comes from old,
        # except the resourceVersion used for the precondition.
        meta = dict(old.get("metadata") or {})
        if "resourceVersion" in keep_meta:
            meta["resourceVersion"] = keep_meta["resourceVersion"]
        new["metadata"] = meta

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return []

    # ---- field selectors ---------------------------------------------------------------
    def field_values(self, obj: Obj) -> dict[str, str]:
        """Values of the selectable fields, as strings (upstream's GetAttrs)."""
        meta = obj.get("metadata") or {}
        out = {"metadata.name": meta.get("name", "")}
        if self.namespaced:
            out["metadata.namespace"] = meta.get("namespace", "")
        for path in self.selectable_fields:
            out[path] = _dig_str(obj, path)
        return out


def _dig_str(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


_REGISTRY: dict[tuple[str, str], Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    _REGISTRY[(strategy.group, strategy.kind)] = strategy
    return strategy


def strategy_for(group: str, kind: str) -> Strategy | None:
    """The registered strategy of a built-in kind (None for unknown/custom kinds)."""
    if not _REGISTRY:
        from . import kinds  # noqa: F401  (registers every built-in strategy on import)
    return _REGISTRY.get((group, kind))
