"""Resource quota controller: keep every ResourceQuota's status (hard, used) true.

Why: admission charges a quota before an object is stored, but nothing there gives usage back
when a pod finishes or an object is deleted, or when a charged write failed afterwards. Upstream
1.32 pkg/controller/resourcequota recomputes `status.used` from what exists (with the same usage
evaluators as admission, tugboat/api/quota.py) and copies `spec.hard` into `status.hard` — the
latter is what admission enforces, so a new quota restricts nothing until synced here. It
re-syncs on quota changes, on "replenishment" (a quotable object deleted, a pod turning
terminal or changing resources), and fully every `resync_period` (5 min upstream).
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api import quota
from tugboat.api.scheme import ResourceType
from tugboat.client import copy_obj, deleted_object, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register

log = logging.getLogger(__name__)
Obj = dict[str, Any]
# Kinds watched for replenishment (the rest are counted by listing on each sync).
_WATCHED = (("", "v1", "pods"), ("", "v1", "services"), ("", "v1", "persistentvolumeclaims"),
            ("", "v1", "configmaps"), ("", "v1", "secrets"), ("", "v1", "replicationcontrollers"))


@register
class ResourceQuotaController(BaseController):
    name = "resourcequota-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        raw = (getattr(ctx, "options", None) or {}).get(self.name) or {}
        self.resync_period = float(raw.get("resync_period", 300.0))
        self.rq_rt = ctx.rt("", "v1", "resourcequotas")

    def setup(self) -> None:
        self.quotas = self.ctx.informers.informer(self.rq_rt)
        self.quotas.add_event_handler(on_add=self.enqueue, on_update=self._quota_updated)
        self.watched: dict[tuple[str, str], Any] = {}
        for g, v, p in _WATCHED:
            inf = self.ctx.informers.informer(self.ctx.rt(g, v, p))
            self.watched[(g, p)] = inf
            inf.add_event_handler(on_add=self._replenish_maybe_add, on_update=self._replenish_update,
                                  on_delete=self._replenish)

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec") or (new.get("status") or {}).get("hard") != \
                (new.get("spec") or {}).get("hard"):
            self.enqueue(new)
        elif (old.get("status") or {}).get("used") != (new.get("status") or {}).get("used"):
            # admission charged it: recheck later so charges for failed writes are given back
            self.loop.queue.add_after(self._key(new), 2.0)

    @staticmethod
    def _key(obj: Obj) -> str:
        return f'{obj["metadata"].get("namespace", "")}/{obj["metadata"]["name"]}'

    def _replenish(self, obj: Any) -> None:
        ns = (deleted_object(obj).get("metadata") or {}).get("namespace")
        if ns:
            for rq in self.quotas.lister.list(ns):
                self.enqueue(rq)

    def _replenish_maybe_add(self, obj: Obj) -> None:
        return None  # creates are charged by admission; nothing to give back

    def _replenish_update(self, old: Obj, new: Obj) -> None:
        if quota.pod_is_terminal(new) != quota.pod_is_terminal(old) or old.get("spec") != new.get("spec"):
            self._replenish(new)

    async def _objects(self, group: str, plural: str, ns: str) -> list[Obj]:
        inf = self.watched.get((group, plural))
        if inf is not None:
            return list(inf.lister.list(ns))
        rt = self._type(group, plural)
        if rt is None or not rt.namespaced:
            return []
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page = await self.client.list(rt, ns, limit=500, continue_=cont)
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue") or None
            if not cont:
                return items

    def _type(self, group: str, plural: str) -> ResourceType | None:
        for rt in self.ctx.scheme.all():
            if rt.group == group and rt.plural == plural and rt.storage_group is None:
                return rt
        return None

    @staticmethod
    def _resources_for(name: str) -> tuple[str, str] | None:
        """The (group, plural) whose objects a quota line counts."""
        if name.startswith("count/"):
            plural, _, group = name[len("count/"):].partition(".")
            return group, plural
        if name in quota.LEGACY_COUNT:
            return "", name
        if name.startswith("services."):
            return "", "services"
        if name == "requests.storage" or quota.SC_SUFFIX in name:
            return "", "persistentvolumeclaims"
        if name in ("cpu", "memory") or name.startswith(("requests.", "limits.")):
            return "", "pods"
        return None

    async def usage(self, rq: Obj) -> dict[str, str]:
        ns = rq["metadata"].get("namespace", "")
        hard = (rq.get("spec") or {}).get("hard") or {}
        total: quota.Usage = {n: quota.Quantity.parse("0") for n in hard}
        kinds = {k for k in (self._resources_for(n) for n in hard) if k is not None}
        for group, plural in sorted(kinds):
            for obj in await self._objects(group, plural, ns):
                if not quota.matches(rq, group, plural, obj):
                    continue
                u = quota.usage(group, plural, obj)
                total = quota.add(total, {k: v for k, v in u.items() if k in hard})
        return quota.to_list(total)

    async def reconcile(self, key: str) -> float | None:
        ns, _, name = key.partition("/")
        cached = self.quotas.lister.get(name, ns)
        if cached is None:
            return None
        rq = copy_obj(cached)
        hard = quota.to_list(quota.parse_list((rq.get("spec") or {}).get("hard")))
        used = await self.usage(rq)
        status = rq.get("status") or {}
        if status.get("hard") != hard or status.get("used") != used:
            rq["status"] = {"hard": hard, "used": used}
            try:
                await self.client.update_status(self.rq_rt, rq, ns)
            except ApiStatusError as e:
                if is_not_found(e):
                    return None
                raise
        return self.resync_period
