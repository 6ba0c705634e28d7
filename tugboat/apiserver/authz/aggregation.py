"""ClusterRole aggregation (upstream's clusterrole-aggregation controller), as a loop in the server.

A ClusterRole with an `aggregationRule` gets as rules the union of the rules of every ClusterRole
its selectors match (in selector order, roles sorted by name, duplicates dropped). Any ClusterRole
change re-runs the computation; the loop is level-triggered and idempotent, so a burst of changes
costs one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tugboat.api.errors import ApiError
from tugboat.api.selectors import label_selector_from_dict

from ..registry import Registry, WriteOpts
from .cache import Mirror

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def aggregate_rules(role: Obj, all_roles: list[Obj]) -> list[Obj]:
    rules: list[Obj] = []
    name = role["metadata"]["name"]
    others = sorted((r for r in all_roles if r["metadata"]["name"] != name), key=lambda r: r["metadata"]["name"])
    for sel in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ():
        try:
            selector = label_selector_from_dict(sel or {})
        except ValueError:
            continue
        for other in others:
            if selector.matches((other.get("metadata") or {}).get("labels") or {}):
                for rule in other.get("rules") or ():
                    if rule not in rules:
                        rules.append(rule)
    return rules


class Aggregator:
    def __init__(self, registry: Registry, mirror: Mirror):
        self.registry = registry
        self.mirror = mirror
        rt = registry.scheme.get("rbac.authorization.k8s.io", "v1", "clusterroles")
        assert rt is not None
        self.rt = rt
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        mirror.listeners.append(lambda key, new, old: self._dirty.set())

    def start(self) -> None:
        self._dirty.set()
        self._task = asyncio.create_task(self._run(), name="clusterrole aggregation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("clusterrole aggregation")
                await asyncio.sleep(1)
                self._dirty.set()

    async def sync(self) -> None:
        roles = list(self.mirror.objects.values())
        for role in roles:
            if not role.get("aggregationRule"):
                continue
            want = aggregate_rules(role, roles)
            if (role.get("rules") or []) == want:
                continue
            name = role["metadata"]["name"]

            async def fn(old: Obj | None, want: list[Obj] = want) -> Obj | None:
                if old is None or not old.get("aggregationRule"):
                    return None
                new = dict(old)
                new["rules"] = want
                return new
            try:
                await self.registry.guaranteed_update(self.rt, "", name, fn, WriteOpts())
            except ApiError as e:
                if e.code != 404:
                    raise
