"""ResourceQuota admission: refuse a write that would take a namespace over its quota.

Why it charges at admission time: counting only what is stored (the controller's job) lets a
burst of concurrent creates all pass before any is counted. Upstream 1.32
(plugin/pkg/admission/resourcequota) instead adds the new object's usage to each matching
quota's `status.used` with a compare-and-swap on the quota's resourceVersion *before* the object
is stored; a lost race re-reads and re-checks. The controller later recomputes the truth (and
gives back what was charged for writes that then failed).

Only `status.hard` counts (the controller copies spec.hard there): a quota the controller has
not synced yet restricts nothing. Messages are upstream's:
`exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`,
`failed quota: q: must specify limits.cpu for: c`, `status unknown for quota: q, resources: pods`.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors, quota
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType
from tugboat.store.backend import ConflictError, NotFoundError

from . import codec
from .registry import Registry, WriteOpts

Obj = dict[str, Any]
_UPDATE_CHARGED = {("", "services"), ("", "persistentvolumeclaims")}


def forbidden(rt: ResourceType, name: str, msg: str) -> ApiError:
    """upstream admission.NewForbidden: `<resource>[.<group>] "<name>" is forbidden: <msg>`."""
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return ApiError(403, "Forbidden", f'{errors.qualified(rt.plural, rt.group)} "{name}" is forbidden: {msg}',
                    details)


def obj_name(obj: Obj | None) -> str:
    meta = (obj or {}).get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "")


class ResourceQuotaAdmission:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.rq_type = registry.scheme.get("", "v1", "resourcequotas")

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if self.rq_type is None or new is None or not rt.namespaced or opts.subresource:
            return
        key = (rt.group, rt.plural)
        if op == "UPDATE" and key not in _UPDATE_CHARGED:
            return
        if op not in ("CREATE", "UPDATE"):
            return
        ns = new["metadata"].get("namespace") or ""
        for _ in range(20):
            res = await self.registry.backend.list(self.rq_type.namespace_prefix(ns))
            if not res.items:
                return
            if await self._charge(rt, ns, new, old, res.items, opts):
                return
        raise errors.internal("resource quota evaluation timed out")

    async def _charge(self, rt: ResourceType, ns: str, new: Obj, old: Obj | None, items: list[Any],
                      opts: WriteOpts) -> bool:
        """Check every matching quota; write the new usage of each. False = lost a race, retry."""
        new_usage = quota.usage(rt.group, rt.plural, new)
        delta = new_usage
        if old is not None:
            prev = quota.usage(rt.group, rt.plural, old)
            delta = {k: v for k, v in quota.subtract(new_usage, prev).items() if v.sign() > 0}
        writes: list[tuple[Any, Obj]] = []
        for kv in items:
            rq = codec.decode(kv.value, kv.mod_revision)
            qname = rq["metadata"]["name"]
            status = rq.get("status") or {}
            hard = quota.parse_list(status.get("hard"))
            restricted = {n for n in hard if quota.covers(rt.group, rt.plural, n)}
            if not restricted or not quota.matches(rq, rt.group, rt.plural, new):
                continue
            if rt.group == "" and rt.plural == "pods" and old is None:
                msg = quota.pod_constraints(restricted, new)
                if msg:
                    raise forbidden(rt, obj_name(new), f"failed quota: {qname}: {msg}")
            used = quota.parse_list(status.get("used"))
            unknown = sorted(restricted - set(used))
            if unknown:
                raise forbidden(rt, obj_name(new), f"status unknown for quota: {qname}, resources: "
                                                   f"{','.join(unknown)}")
            charge = {k: v for k, v in delta.items() if k in restricted}
            if not charge or all(v.is_zero() for v in charge.values()):
                continue
            after = quota.add(used, charge)
            exceeded = sorted(k for k in charge if after[k] > hard[k])
            if exceeded:
                raise forbidden(rt, obj_name(new), f"exceeded quota: {qname}, requested: {quota.pretty({k: charge[k] for k in exceeded})}, used: {quota.pretty({k: used[k] for k in exceeded})}, limited: {quota.pretty({k: hard[k] for k in exceeded})}")
            rq.setdefault("status", {})["used"] = {**(status.get("used") or {}),
                                                   **quota.to_list({k: after[k] for k in charge})}
            writes.append((kv, rq))
        if opts.dry_run:
            return True
        for kv, rq in writes:
            rq["metadata"].pop("resourceVersion", None)
            try:
                await self.registry.backend.update(kv.key, codec.encode(rq), kv.mod_revision)
            except (ConflictError, NotFoundError):
                return False  # an earlier quota may already be charged: the controller recomputes it
        return True
