"""Interim handling of the garbage collector's `orphan` and `foregroundDeletion` finalizers.

Upstream's garbage collector (controller manager) removes ownerReferences from dependents
and then the `orphan` finalizer, or deletes dependents first for `foregroundDeletion`.
Until that controller exists, this small in-server task does the same so that
`kubectl delete --cascade=orphan|foreground` completes; keep it isolated so the GC can
replace it by deleting this module and its two registrations in server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tugboat.api import errors
from tugboat.api.scheme import ResourceType

from . import codec
from .context import Ctx
from .deletion import FOREGROUND, ORPHAN, DeleteOpts, delete
from .registry import WriteOpts

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class GcFinalizers:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    async def committed(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None) -> None:
        if op != "UPDATE" or new is None or not new["metadata"].get("deletionTimestamp"):
            return
        fins = new["metadata"].get("finalizers") or []
        uid = new["metadata"].get("uid", "")
        if (ORPHAN in fins or FOREGROUND in fins) and uid not in self._busy:
            self._busy.add(uid)
            t = asyncio.create_task(self._finish(rt, new))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _dependents(self, owner: Obj) -> list[tuple[ResourceType, Obj]]:
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"].get("namespace")
        out = []
        seen: set[str] = set()
        for rt in self.ctx.scheme.all():
            if rt.key_prefix in seen:
                continue
            seen.add(rt.key_prefix)
            prefix = rt.namespace_prefix(ns) if (ns and rt.namespaced) else rt.key_prefix
            res = await self.ctx.backend.list(prefix)
            for kv in res.items:
                if uid.encode() not in kv.value:
                    continue
                obj = codec.decode(kv.value, kv.mod_revision)
                if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                    out.append((rt, obj))
        return out

    async def _finish(self, rt: ResourceType, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        reg = self.ctx.registry
        try:
            fins = owner["metadata"].get("finalizers") or []
            for _ in range(600):
                deps = await self._dependents(owner)
                if not deps:
                    break
                for drt, dep in deps:
                    m = dep["metadata"]
                    with contextlib.suppress(errors.ApiError):
                        if ORPHAN in fins:
                            await reg.guaranteed_update(drt, m.get("namespace", ""), m["name"],
                                                        _drop_owner(uid), WriteOpts())
                        elif not m.get("deletionTimestamp"):
                            await delete(reg, drt, m.get("namespace", ""), m["name"],
                                         DeleteOpts(propagation="Foreground" if _blocks(dep, uid) else "Background"),
                                         WriteOpts())
                if ORPHAN in fins:
                    break
                await asyncio.sleep(0.5)

            async def clear(old: Obj | None) -> Obj | None:
                if old is None or old["metadata"].get("uid") != uid:
                    return None
                cur = old["metadata"].get("finalizers") or []
                keep = [f for f in cur if f not in (ORPHAN, FOREGROUND)]
                if keep == cur:
                    return None
                new = codec.copy(old)
                new["metadata"]["finalizers"] = keep
                return new

            m = owner["metadata"]
            with contextlib.suppress(errors.ApiError):
                await reg.guaranteed_update(rt, m.get("namespace", ""), m["name"], clear, WriteOpts())
        except Exception:
            log.exception("finalizing %s", owner["metadata"].get("name"))
        finally:
            self._busy.discard(uid)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()


def _blocks(dep: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in dep["metadata"].get("ownerReferences") or [])


def _drop_owner(uid: str):  # type: ignore[no-untyped-def]
    async def fn(old: Obj | None) -> Obj | None:
        if old is None:
            return None
        refs = old["metadata"].get("ownerReferences") or []
        keep = [r for r in refs if r.get("uid") != uid]
        if keep == refs:
            return None
        new = codec.copy(old)
        if keep:
            new["metadata"]["ownerReferences"] = keep
        else:
            new["metadata"].pop("ownerReferences", None)
        return new
    return fn
