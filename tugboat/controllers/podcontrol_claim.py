"""Adoption and release of children by label selector (upstream's ControllerRefManager).

A controller owns what carries its controller ownerReference. Objects that match its
selector but have no controller are *adopted* (the reference is added); objects it owns
that no longer match are *released* (the reference is removed). Before adopting, the owner
is re-read live: a cached owner that was meanwhile deleted or recreated (new uid) must not
adopt anything. Both writes are JSON patches guarded by `test` operations on the child's
uid and ownerReferences, so a concurrent change makes the patch fail instead of clobbering.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tugboat.api.scheme import ResourceType
from tugboat.api.selectors import LabelSelector
from tugboat.client import Client, is_not_found
from tugboat.controllers.podcontrol import controller_ref, owner_reference

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class ClaimManager:
    def __init__(self, client: Client, owner: Obj, owner_rt: ResourceType, selector: LabelSelector,
                 can_adopt: Callable[[], Awaitable[bool]]):
        self.client = client
        self.owner = owner
        self.owner_rt = owner_rt
        self.selector = selector
        self._can_adopt = can_adopt
        self._can_adopt_result: bool | None = None
        md = owner.get("metadata") or {}
        self.uid = md.get("uid", "")
        self.deleting = bool(md.get("deletionTimestamp"))

    async def can_adopt(self) -> bool:
        if self._can_adopt_result is None:  # checked at most once per claim round
            self._can_adopt_result = await self._can_adopt()
        return self._can_adopt_result

    async def claim(self, rt: ResourceType, objs: list[Obj]) -> list[Obj]:
        """The subset of `objs` this owner controls after adopting/releasing as needed."""
        claimed: list[Obj] = []
        errors: list[Exception] = []
        for obj in objs:
            try:
                if await self._claim_one(rt, obj):
                    claimed.append(obj)
            except Exception as e:  # noqa: BLE001 - finish the others, report the first
                errors.append(e)
        if errors:
            raise errors[0]
        return claimed

    async def _claim_one(self, rt: ResourceType, obj: Obj) -> bool:
        md = obj.get("metadata") or {}
        ref = controller_ref(obj)
        matches = self.selector.matches(md.get("labels") or {})
        if ref is not None:
            if ref.get("uid") != self.uid:
                return False  # someone else's
            if matches:
                return True
            if self.deleting:
                return False  # ignore while being deleted; don't release
            await self.release(rt, obj)
            return False
        if self.deleting or not matches or md.get("deletionTimestamp"):
            return False
        if not await self.can_adopt():
            return False
        try:
            await self.adopt(rt, obj)
        except Exception as e:
            if is_not_found(e):
                return False  # gone: nothing to own
            raise
        return True

    async def adopt(self, rt: ResourceType, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        refs = md.get("ownerReferences")
        ref = owner_reference(self.owner, self.owner_rt)
        ops: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": md.get("uid")}]
        if refs:
            ops += [{"op": "test", "path": "/metadata/ownerReferences", "value": refs},
                    {"op": "add", "path": "/metadata/ownerReferences/-", "value": ref}]
        else:
            ops.append({"op": "add", "path": "/metadata/ownerReferences", "value": [ref]})
        await self.client.patch(rt, md["name"], ops, md.get("namespace"), patch_type="json")

    async def release(self, rt: ResourceType, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        refs = list(md.get("ownerReferences") or [])
        keep = [r for r in refs if r.get("uid") != self.uid]
        ops: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": md.get("uid")},
                          {"op": "test", "path": "/metadata/ownerReferences", "value": refs}]
        if keep:
            ops.append({"op": "replace", "path": "/metadata/ownerReferences", "value": keep})
        else:
            ops.append({"op": "remove", "path": "/metadata/ownerReferences"})
        try:
            await self.client.patch(rt, md["name"], ops, md.get("namespace"), patch_type="json")
        except Exception as e:
            # Gone, or changed under us (a failed `test` is 422/409): either way nothing to release now.
            if is_not_found(e) or getattr(e, "code", 0) in (409, 422):
                log.debug("release of %s skipped: %s", md.get("name"), e)
                return
            raise


def recheck_owner(client: Client, rt: ResourceType, owner: Obj) -> Callable[[], Awaitable[bool]]:
    """upstream RecheckDeletionTimestamp: a live GET; adopt only if same uid and not deleting."""
    md = owner.get("metadata") or {}

    async def check() -> bool:
        try:
            fresh = await client.get(rt, md["name"], md.get("namespace"))
        except Exception as e:  # noqa: BLE001
            log.info("can't recheck %s %s before adopting: %s", rt.kind, md.get("name"), e)
            return False
        fmd = fresh.get("metadata") or {}
        return fmd.get("uid") == md.get("uid") and not fmd.get("deletionTimestamp")
    return check
