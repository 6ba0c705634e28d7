"""Generic ephemeral volumes: a pod's `ephemeral` volume becomes a claim it owns (upstream ephemeral controller).

Why: a pod that needs scratch storage from a StorageClass (bigger or more durable than
emptyDir) states a claim template inline; the claim `<pod>-<volume>` is created with the pod
as its controlling owner, so the garbage collector removes it with the pod. A claim of that
name that the pod does not own is never used (it could be someone else's data): the pod gets
a FailedBinding warning and the node will not start it.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.storage_binding import meta, spec
from tugboat.client import ApiStatusError, is_already_exists
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]
COMPONENT = "ephemeral_volume"


def claim_for(pod: Obj, vol: Obj) -> Obj:
    tmpl = (vol.get("ephemeral") or {}).get("volumeClaimTemplate") or {}
    tm = tmpl.get("metadata") or {}
    pm = meta(pod)
    md: Obj = {"name": f"{pm.get('name', '')}-{vol.get('name', '')}", "namespace": pm.get("namespace", ""),
               "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pm.get("name", ""),
                                    "uid": pm.get("uid", ""), "controller": True, "blockOwnerDeletion": True}]}
    for k in ("labels", "annotations"):
        if tm.get(k):
            md[k] = dict(tm[k])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md,
            "spec": dict(tmpl.get("spec") or {})}


@register
class EphemeralVolumeController(BaseController):
    name = "ephemeral-volume"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.pvc_rt = ctx.rt("", "v1", "persistentvolumeclaims")
        self.pod_rt = ctx.rt("", "v1", "pods")
        self.recorder = ctx.recorder(COMPONENT)

    def setup(self) -> None:
        self.pods = self.ctx.informers.informer(self.pod_rt)
        self.pvcs = self.ctx.informers.informer(self.pvc_rt)
        self.pods.add_event_handler(on_add=self._pod, on_update=lambda _o, n: self._pod(n))

    def _pod(self, pod: Obj) -> None:
        if any(v.get("ephemeral") is not None for v in spec(pod).get("volumes") or ()):
            self.enqueue(pod)

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        pod = self.pods.lister.get(name, ns)
        if pod is None or meta(pod).get("deletionTimestamp"):
            return None
        for vol in spec(pod).get("volumes") or ():
            if vol.get("ephemeral") is None:
                continue
            claim = claim_for(pod, vol)
            cname = claim["metadata"]["name"]
            existing = self.pvcs.lister.get(cname, ns)
            if existing is None:
                try:
                    existing = await self.client.create(self.pvc_rt, claim, ns)
                except ApiStatusError as e:
                    if not is_already_exists(e):
                        raise
                    existing = await self.client.get(self.pvc_rt, cname, ns)
            owners = [r.get("uid") for r in meta(existing).get("ownerReferences") or () if r.get("controller")]
            if owners != [meta(pod).get("uid")]:
                self.recorder.emit(pod, "Warning", "FailedBinding",
                                   f"PVC {ns}/{cname} was not created for pod {ns}/{name} (pod is not owner)")
        return None
