"""PV protection: a volume bound to a claim is not removed (upstream pvprotection controller).

Why: deleting a bound volume would strand the claim (Lost) and its pods. Admission puts
`kubernetes.io/pv-protection` on every volume; when one is being deleted this controller
removes the finalizer once the volume's phase is no longer Bound (Available, Released,
Failed). Volumes missing the finalizer get it added.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.storage_binding import PV_PROTECTION, meta
from tugboat.client import ApiStatusError, copy_obj, is_not_found
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]


@register
class PVProtectionController(BaseController):
    name = "pv-protection"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.pv_rt = ctx.rt("", "v1", "persistentvolumes")

    def setup(self) -> None:
        self.pvs = self.ctx.informers.informer(self.pv_rt)
        self.pvs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))

    async def reconcile(self, key: str) -> float | None:
        pv = self.pvs.lister.get(key)
        if pv is None:
            return None
        fins = list(meta(pv).get("finalizers") or ())
        deleting = bool(meta(pv).get("deletionTimestamp"))
        if not deleting and PV_PROTECTION not in fins:
            await self._set_finalizers(pv, [*fins, PV_PROTECTION])
        elif deleting and PV_PROTECTION in fins and (pv.get("status") or {}).get("phase") != "Bound":
            await self._set_finalizers(pv, [f for f in fins if f != PV_PROTECTION])
        return None

    async def _set_finalizers(self, pv: Obj, fins: list[str]) -> None:
        new = copy_obj(pv)
        new["metadata"]["finalizers"] = fins
        try:
            await self.client.update(self.pv_rt, new)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
