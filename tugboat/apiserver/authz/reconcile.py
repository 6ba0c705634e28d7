"""Reconcile the default roles and bindings at start (upstream's `rbac/bootstrap-roles` post-start hook).

Missing defaults are created. Existing ones annotated `rbac.authorization.kubernetes.io/autoupdate:
"true"` get back any rule, label, annotation or subject that was removed; extra rules or subjects a
user added are kept (upstream reconciles additively). Setting the annotation to "false" opts an
object out. Aggregated roles (admin/edit/view) only get their aggregationRule back — their rules
belong to the aggregation loop.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from ..registry import Registry, WriteOpts
from .bootstrap_ns_roles import role_bindings, roles
from .bootstrap_roles import AUTOUPDATE, cluster_role_bindings, cluster_roles

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _merge_meta(have: Obj, want: Obj) -> bool:
    changed = False
    for key in ("labels", "annotations"):
        cur = have.setdefault(key, {}) or {}
        have[key] = cur
        for k, v in (want.get(key) or {}).items():
            if k not in cur:
                cur[k] = v
                changed = True
    return changed


def _merge_list(have: list[Any], want: list[Any]) -> bool:
    missing = [x for x in want if x not in have]
    have.extend(missing)
    return bool(missing)


def reconcile_role(have: Obj, want: Obj) -> bool:
    """Bring `have` up to `want` additively; True if it changed."""
    changed = _merge_meta(have.setdefault("metadata", {}), want["metadata"])
    if want.get("aggregationRule"):
        if have.get("aggregationRule") != want["aggregationRule"]:
            have["aggregationRule"] = want["aggregationRule"]
            changed = True
        return changed
    rules = have.get("rules") or []
    changed = _merge_list(rules, want.get("rules") or []) or changed
    have["rules"] = rules
    return changed


def reconcile_binding(have: Obj, want: Obj) -> bool:
    changed = _merge_meta(have.setdefault("metadata", {}), want["metadata"])
    subjects = have.get("subjects") or []
    changed = _merge_list(subjects, want.get("subjects") or []) or changed
    if subjects:
        have["subjects"] = subjects
    return changed


async def _ensure(reg: Registry, rt: ResourceType, want: Obj, merge: Any) -> None:
    name, ns = want["metadata"]["name"], want["metadata"].get("namespace", "")
    try:
        have = await reg.get(rt, ns, name)
    except ApiError as e:
        if e.code != 404:
            raise
        try:
            await reg.create(rt, ns, want, WriteOpts())
        except ApiError as e2:
            if e2.code != 409:
                log.warning("bootstrap %s %s: %s", rt.kind, name, e2)
        return
    if (have["metadata"].get("annotations") or {}).get(AUTOUPDATE) == "false":
        return
    if merge(have, want):
        try:
            await reg.update(rt, ns, name, have, WriteOpts())
        except ApiError as e:
            log.warning("bootstrap reconcile %s %s: %s", rt.kind, name, e)


async def reconcile_defaults(reg: Registry) -> None:
    def rt(plural: str) -> ResourceType:
        found = reg.scheme.get("rbac.authorization.k8s.io", "v1", plural)
        assert found is not None
        return found
    for role in cluster_roles():
        await _ensure(reg, rt("clusterroles"), role, reconcile_role)
    for b in cluster_role_bindings():
        await _ensure(reg, rt("clusterrolebindings"), b, reconcile_binding)
    for role in roles():  # the namespaces exist: the server bootstraps kube-system and kube-public first
        await _ensure(reg, rt("roles"), role, reconcile_role)
    for b in role_bindings():
        await _ensure(reg, rt("rolebindings"), b, reconcile_binding)
