"""ServiceAccount controller: every active namespace has a `default` ServiceAccount.

Why: pods that name no service account get `default`, and the ServiceAccount admission refuses
pods whose account does not exist; so the account must appear as soon as the namespace does,
and come back if someone deletes it. Upstream 1.32 pkg/controller/serviceaccount
(serviceaccounts-controller): namespaces being terminated are skipped.
"""

from __future__ import annotations

from typing import Any

from tugboat.client import deleted_object, is_already_exists
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]
DEFAULT_NAMES = ("default",)


@register
class ServiceAccountController(BaseController):
    name = "serviceaccount-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.sa_rt = ctx.rt("", "v1", "serviceaccounts")

    def setup(self) -> None:
        self.namespaces = self.ctx.informers.informer(self.ctx.rt("", "v1", "namespaces"))
        self.accounts = self.ctx.informers.informer(self.sa_rt)
        self.namespaces.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.accounts.add_event_handler(on_delete=self._sa_deleted)

    def _sa_deleted(self, obj: Any) -> None:
        sa = deleted_object(obj)
        if sa["metadata"].get("name") in DEFAULT_NAMES:
            self.enqueue_key(sa["metadata"]["namespace"])

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.lister.get(key)
        if ns is None or ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        for name in DEFAULT_NAMES:
            if self.accounts.lister.get(name, key) is not None:
                continue
            try:
                await self.client.create(self.sa_rt, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                      "metadata": {"name": name, "namespace": key}}, key)
            except ApiStatusError as e:
                if not is_already_exists(e) and e.code != 403:  # 403: the namespace began terminating
                    raise
        return None
