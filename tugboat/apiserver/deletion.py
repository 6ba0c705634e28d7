"""DELETE for the generic store: preconditions, graceful pod deletion, finalizers,
propagation policy (the GC finalizers `orphan` / `foregroundDeletion`), deletecollection.

An object with finalizers is only marked (deletionTimestamp); it is removed when an update
clears the last finalizer (`Registry.guaranteed_update`). Dependents are the garbage
collector's job, not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType
from tugboat.store.backend import ConflictError, NotFoundError

from . import codec
from .registry import RETURN_DELETED_KINDS, Registry, WriteOpts

__all__ = ["RETURN_DELETED_KINDS", "DeleteOpts", "delete", "delete_status"]

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass(slots=True)
class DeleteOpts:
    grace_period: int | None = None
    propagation: str = ""  # "", Orphan, Background, Foreground
    uid: str = ""
    resource_version: str = ""

    @classmethod
    def from_body(cls, body: Obj | None, query: Any) -> DeleteOpts:
        body = body or {}
        o = cls()
        g = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        if g is not None and g != "":
            try:
                o.grace_period = int(g)
            except (TypeError, ValueError):
                raise errors.bad_request(f"invalid gracePeriodSeconds: {g!r}") from None
        pol = body.get("propagationPolicy") or query.get("propagationPolicy") or ""
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if orphan is not None and orphan != "":
            if pol:
                raise errors.invalid_object("meta.k8s.io", "DeleteOptions", "", [errors.invalid(
                    "propagationPolicy", pol, "orphanDependents and deletionPropagation cannot be both set")])
            pol = "Orphan" if orphan in (True, "true") else "Background"
        if pol and pol not in ("Orphan", "Background", "Foreground"):
            raise errors.invalid_object("meta.k8s.io", "DeleteOptions", "", [errors.not_supported(
                "propagationPolicy", pol, ["Foreground", "Background", "Orphan", "nil"])])
        o.propagation = pol
        pre = body.get("preconditions") or {}
        if isinstance(pre, dict):
            o.uid = pre.get("uid") or ""
            o.resource_version = pre.get("resourceVersion") or ""
        return o


def _finalizers_for(policy: str, current: list[str]) -> list[str]:
    fin = list(current)
    if policy == "Orphan":
        fin = [f for f in fin if f != FOREGROUND]
        if ORPHAN not in fin:
            fin.append(ORPHAN)
    elif policy == "Foreground":
        fin = [f for f in fin if f != ORPHAN]
        if FOREGROUND not in fin:
            fin.append(FOREGROUND)
    elif policy == "Background":
        fin = [f for f in fin if f not in (ORPHAN, FOREGROUND)]
    return fin


def _pod_grace(obj: Obj, requested: int | None) -> int:
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, requested)
    g = spec.get("terminationGracePeriodSeconds")
    return int(g) if isinstance(g, int) else 30


async def delete(reg: Registry, rt: ResourceType, ns: str, name: str, o: DeleteOpts,
                 wopts: WriteOpts) -> tuple[Obj, bool]:
    """Returns (object, removed): removed=False means it was only marked for deletion."""
    key = reg.key(rt, ns, name)
    for _ in range(16):
        kv = await reg.backend.get(key)
        if kv is None:
            raise reg.not_found(rt, name)
        obj = reg.to_version(rt, codec.decode(kv.value, kv.mod_revision))
        meta = obj["metadata"]
        if o.uid and o.uid != meta.get("uid"):
            raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {o.uid}, "
                                            f"UID in object meta: {meta.get('uid')}")
        if o.resource_version and o.resource_version != meta.get("resourceVersion"):
            raise ApiError(409, "Conflict", f"Precondition failed: ResourceVersion in precondition: "
                                            f"{o.resource_version}, ResourceVersion in object meta: "
                                            f"{meta.get('resourceVersion')}")
        await reg._admit("DELETE", rt, None, obj, wopts)
        old_fin = list(meta.get("finalizers") or [])
        fin = _finalizers_for(o.propagation, old_fin)
        grace = _pod_grace(obj, o.grace_period) if (rt.kind == "Pod" and rt.group == "") else 0
        if fin or grace > 0:
            new = codec.copy(obj)
            nm = new["metadata"]
            if fin != old_fin:
                nm["finalizers"] = fin
            if not nm.get("deletionTimestamp"):
                nm["deletionTimestamp"] = reg.clock.rfc3339(grace)
                nm["deletionGracePeriodSeconds"] = grace
            elif grace < int(nm.get("deletionGracePeriodSeconds") or 0):
                nm["deletionTimestamp"] = reg.clock.rfc3339(grace)
                nm["deletionGracePeriodSeconds"] = grace
            if new == obj:
                return obj, False
            if wopts.dry_run:
                return new, False
            try:
                rev = await reg.backend.update(key, codec.encode(reg.to_storage(rt, codec.copy(new))),
                                               kv.mod_revision)
            except (ConflictError, NotFoundError):
                continue
            nm["resourceVersion"] = str(rev)
            await reg._committed("UPDATE", rt, new, obj)
            return new, False
        if wopts.dry_run:
            return obj, True
        try:
            rev, _ = await reg.backend.delete(key, kv.mod_revision)
        except (ConflictError, NotFoundError):
            continue
        meta["resourceVersion"] = str(rev)
        await reg._committed("DELETE", rt, None, obj)
        return obj, True
    raise errors.stale_conflict(rt.group, rt.plural, name)


def delete_status(rt: ResourceType, obj: Obj) -> Obj:
    """The Status upstream returns for a completed delete of kinds that don't return the object."""
    meta = obj.get("metadata") or {}
    details: Obj = {"name": meta.get("name", ""), "kind": rt.plural, "uid": meta.get("uid", "")}
    if rt.group:
        details["group"] = rt.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
