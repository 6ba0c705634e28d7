"""PVC protection: a claim a pod still uses is not removed (upstream pvcprotection controller).

Why: deleting a claim under a running pod would pull its data away mid-write. Admission puts
`kubernetes.io/pvc-protection` on every claim; when a claim is being deleted this controller
removes the finalizer only once no scheduled pod that is not yet finished (phase
Succeeded/Failed) references it — through a persistentVolumeClaim volume or a generic
ephemeral volume. The cache is checked first, then a live list, as upstream does, so a pod
the cache has not seen yet still blocks. Claims missing the finalizer (created before admission ran) get it added.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.storage_binding import PVC_PROTECTION, meta, pod_claim_names
from tugboat.client import ApiStatusError, copy_obj, deleted_object, is_not_found
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


def pod_uses(pod: Obj, claim: str) -> bool:
    """Only scheduled pods count (upstream): a node agent will not start a pod whose claim is
    already being deleted, so an unscheduled pod never gets to use it."""
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    return (pod.get("status") or {}).get("phase") not in TERMINAL and claim in pod_claim_names(pod)


@register
class PVCProtectionController(BaseController):
    name = "pvc-protection"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.pvc_rt = ctx.rt("", "v1", "persistentvolumeclaims")
        self.pod_rt = ctx.rt("", "v1", "pods")

    def setup(self) -> None:
        self.pvcs = self.ctx.informers.informer(self.pvc_rt)
        self.pods = self.ctx.informers.informer(self.pod_rt)
        self.pvcs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods.add_event_handler(on_add=self._pod, on_update=lambda _o, n: self._pod(n),
                                    on_delete=lambda o: self._pod(deleted_object(o)))

    def _pod(self, pod: Obj) -> None:
        ns = meta(pod).get("namespace", "")
        for name in pod_claim_names(pod):
            self.enqueue_key(f"{ns}/{name}")

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        pvc = self.pvcs.lister.get(name, ns)
        if pvc is None:
            return None
        fins = list(meta(pvc).get("finalizers") or ())
        deleting = bool(meta(pvc).get("deletionTimestamp"))
        if not deleting and PVC_PROTECTION not in fins:
            await self._set_finalizers(pvc, [*fins, PVC_PROTECTION])
        elif deleting and PVC_PROTECTION in fins and not await self._in_use(ns, name):
            await self._set_finalizers(pvc, [f for f in fins if f != PVC_PROTECTION])
        return None

    async def _in_use(self, ns: str, name: str) -> bool:
        if any(pod_uses(p, name) for p in self.pods.lister.list(ns)):
            return True
        live = (await self.client.list(self.pod_rt, ns))["items"]
        return any(pod_uses(p, name) for p in live)

    async def _set_finalizers(self, pvc: Obj, fins: list[str]) -> None:
        new = copy_obj(pvc)
        new["metadata"]["finalizers"] = fins
        try:
            await self.client.update(self.pvc_rt, new)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
