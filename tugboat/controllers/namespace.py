"""Namespace controller: empty a namespace being deleted, then release its `kubernetes` finalizer.

Why a controller: deleting a namespace only marks it (deletionTimestamp, phase Terminating);
the `kubernetes` entry in spec.finalizers keeps it until everything inside is gone. Every
namespaced resource, custom ones included, must be found through discovery, so this is an API
client like any other. Upstream 1.32 pkg/controller/namespace (NamespacedResourcesDeleter):
* discover all namespaced resources that support list+delete; delete their objects (a
  deletecollection where supported);
* record progress in status.conditions: NamespaceDeletionDiscoveryFailure,
  NamespaceDeletionGroupVersionParsingFailure, NamespaceDeletionContentFailure,
  NamespaceContentRemaining ("Some resources are remaining: pods has 2 resource instances"),
  NamespaceFinalizersRemaining;
* while content remains (graceful pods, finalizers), retry later;
* when empty, PUT `namespaces/<n>/finalize` without `kubernetes`; the API server then
  removes the namespace once no other finalizers remain.

Not enabled by default yet: the API server still finalizes namespaces itself
(tugboat/apiserver/nsfinalizer.py) until the lead switches over.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api.scheme import ResourceType
from tugboat.client import Controller, WorkQueue, copy_obj, is_not_found, resource_path
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
FINALIZER = "kubernetes"
RETRY_SECONDS = 2.0
_OK = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted",
                                        "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


def _group_resource(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


@register
class NamespaceController(BaseController):
    name = "namespace-controller"
    workers = 2
    default_enabled = False

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.loop = Controller(self.name, self.reconcile, workers=self.workers,
                               queue=WorkQueue(self.name, clock=ctx.clock))
        self.ns_rt = ctx.rt("", "v1", "namespaces")

    def setup(self) -> None:
        self.namespaces = self.ctx.informers.informer(self.ns_rt)
        self.namespaces.add_event_handler(on_add=self._ns, on_update=lambda _o, n: self._ns(n))

    def _ns(self, ns: Obj) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.enqueue(ns)

    async def _resources(self) -> list[ResourceType]:
        await self.client.discovery.refresh()
        seen: set[tuple[str, str]] = set()
        out = []
        for rt in self.client.discovery.resources():
            verbs = set(rt.verbs)
            if not rt.namespaced or not {"list", "delete"} <= verbs or (rt.group, rt.plural) in seen:
                continue
            seen.add((rt.group, rt.plural))
            out.append(rt)
        return out

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.lister.get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or ()):
            return None
        failed: dict[str, tuple[str, str]] = {}
        try:
            resources = await self._resources()
        except ApiStatusError as e:
            failed["NamespaceDeletionDiscoveryFailure"] = ("DiscoveryFailed", f"Discovery failed: {e}")
            resources = []
        errors: list[str] = []
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for rt in resources:
            try:
                await self._delete_all(rt, key)
                items = (await self.client.list(rt, key)).get("items") or []
            except ApiStatusError as e:
                if e.code in (404, 405):
                    continue
                errors.append(f"{_group_resource(rt)}: {e}")
                continue
            if items:
                remaining[_group_resource(rt)] = len(items)
                for it in items:
                    for f in it["metadata"].get("finalizers") or ():
                        finalizers[f] = finalizers.get(f, 0) + 1
        if errors:
            failed["NamespaceDeletionContentFailure"] = (
                "ContentDeletionFailed", f"Failed to delete all resource types, {len(errors)} remaining: "
                + ", ".join(sorted(errors)))
        if remaining:
            failed["NamespaceContentRemaining"] = ("SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                f"{gr} has {n} resource instances" for gr, n in sorted(remaining.items())))
        if finalizers:
            failed["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: " + ", ".join(
                    f"{f} in {n} resource instances" for f, n in sorted(finalizers.items())))
        ns = await self._set_conditions(ns, failed)
        if failed or ns is None:
            return RETRY_SECONDS if ns is not None else None
        await self._finalize(ns)
        return None

    async def _delete_all(self, rt: ResourceType, ns: str) -> None:
        if "deletecollection" in rt.verbs:
            await self.client.request("DELETE", resource_path(rt, ns),
                                      body={"kind": "DeleteOptions", "apiVersion": "v1"})
            return
        for it in (await self.client.list(rt, ns)).get("items") or []:
            if it["metadata"].get("deletionTimestamp"):
                continue
            try:
                await self.client.delete(rt, it["metadata"]["name"], ns)
            except ApiStatusError as e:
                if not is_not_found(e):
                    raise

    async def _set_conditions(self, ns: Obj, failed: dict[str, tuple[str, str]]) -> Obj | None:
        body = copy_obj(ns)
        status = body.setdefault("status", {})
        old = {c.get("type"): c for c in status.get("conditions") or ()}
        now = rfc3339(self.ctx.clock.time())
        conds = []
        for ctype, (ok_reason, ok_msg) in _OK.items():
            st, (reason, msg) = ("True", failed[ctype]) if ctype in failed else ("False", (ok_reason, ok_msg))
            prev = old.get(ctype) or {}
            ltt = prev.get("lastTransitionTime") if prev.get("status") == st and prev.get("lastTransitionTime") else now
            conds.append({"type": ctype, "status": st, "lastTransitionTime": ltt, "reason": reason, "message": msg})
        conds += [c for t, c in old.items() if t not in _OK]
        if conds == status.get("conditions") and status.get("phase") == "Terminating":
            return ns
        status["conditions"] = conds
        status["phase"] = "Terminating"
        try:
            return await self.client.update_status(self.ns_rt, body)
        except ApiStatusError as e:
            if is_not_found(e):
                return None
            raise

    async def _finalize(self, ns: Obj) -> None:
        body = copy_obj(ns)
        spec = body.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or () if f != FINALIZER]
        try:
            await self.client.request("PUT", resource_path(self.ns_rt, None, ns["metadata"]["name"], "finalize"),
                                      body=body)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
