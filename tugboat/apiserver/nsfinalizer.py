"""Namespace deletion: mark Terminating, empty the namespace, then remove it.

Upstream does this in the controller manager's namespace controller; it lives here, isolated,
until that controller exists. DELETE sets deletionTimestamp + phase Terminating (the
`kubernetes` finalizer in spec.finalizers keeps it); a background task deletes every
namespaced object in it, retrying while objects with finalizers linger, then clears the
finalizer and removes the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tugboat.api import errors
from tugboat.api.scheme import ResourceType

from . import codec, decode
from .admission import SYSTEM_NAMESPACES
from .context import Ctx
from .deletion import DeleteOpts, delete
from .registry import WriteOpts
from .request import Req, Resp, json_resp

log = logging.getLogger(__name__)
Obj = dict[str, Any]
RETRY_SECONDS = 1.0


def _ns_type(ctx: Ctx) -> ResourceType:
    rt = ctx.scheme.get("", "v1", "namespaces")
    assert rt is not None
    return rt


async def delete_namespace(ctx: Ctx, name: str, o: DeleteOpts, wopts: WriteOpts) -> Obj:
    rt = _ns_type(ctx)
    if name in SYSTEM_NAMESPACES:
        raise errors.forbidden_error(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
    reg = ctx.registry

    async def fn(old: Obj | None) -> Obj | None:
        if old is None:
            raise reg.not_found(rt, name)
        meta = old["metadata"]
        if o.uid and o.uid != meta.get("uid"):
            raise errors.ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {o.uid}, "
                                                   f"UID in object meta: {meta.get('uid')}")
        if o.resource_version and o.resource_version != meta.get("resourceVersion"):
            raise errors.ApiError(409, "Conflict", f"Precondition failed: ResourceVersion in precondition: "
                                                   f"{o.resource_version}, ResourceVersion in object meta: "
                                                   f"{meta.get('resourceVersion')}")
        if meta.get("deletionTimestamp"):
            return None
        new = codec.copy(old)
        new["metadata"]["deletionTimestamp"] = reg.clock.rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        return new

    obj, _ = await reg.guaranteed_update(rt, "", name, fn, wopts)
    if not wopts.dry_run:
        fin = ctx.extras.get("nsfinalizer")
        if isinstance(fin, NamespaceFinalizer):
            fin.enqueue(name)
    return obj


async def finalize(ctx: Ctx, req: Req, rt: ResourceType, name: str) -> Resp:
    """PUT namespaces/x/finalize: replace spec.finalizers (removes the namespace when done)."""
    body = decode.decode_object(req.body, req.header("Content-Type"), "", "v1", "Namespace")
    fins = (body.get("spec") or {}).get("finalizers") or []

    async def fn(old: Obj | None) -> Obj | None:
        if old is None:
            raise ctx.registry.not_found(rt, name)
        new = codec.copy(old)
        new.setdefault("spec", {})["finalizers"] = list(fins)
        return new

    obj, _ = await ctx.registry.guaranteed_update(rt, "", name, fn, WriteOpts())
    await _remove_if_done(ctx, name)
    return json_resp(obj)


async def _remove_if_done(ctx: Ctx, name: str) -> bool:
    rt = _ns_type(ctx)
    kv = await ctx.registry.get_kv(rt, "", name)
    if kv is None:
        return True
    obj = codec.decode(kv.value, kv.mod_revision)
    if obj["metadata"].get("deletionTimestamp") and not (obj.get("spec") or {}).get("finalizers") \
            and not obj["metadata"].get("finalizers"):
        with contextlib.suppress(Exception):
            await ctx.registry.backend.delete(kv.key, kv.mod_revision)
            await ctx.registry._committed("DELETE", rt, None, obj)
        return True
    return False


class NamespaceFinalizer:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.pending: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, name: str) -> None:
        self.pending.add(name)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="namespace finalizer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def requeue_terminating(self) -> None:
        rt = _ns_type(self.ctx)
        res = await self.ctx.backend.list(rt.key_prefix)
        for kv in res.items:
            obj = codec.decode(kv.value, kv.mod_revision)
            if obj["metadata"].get("deletionTimestamp"):
                self.enqueue(obj["metadata"]["name"])

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for name in list(self.pending):
                try:
                    if await self.sweep(name):
                        self.pending.discard(name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("namespace %s cleanup", name)
            if self.pending:
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def sweep(self, name: str) -> bool:
        """Delete everything in namespace `name`; True once the namespace itself is gone."""
        ctx = self.ctx
        remaining = 0
        seen: set[str] = set()
        for rt in ctx.scheme.all():
            if not rt.namespaced or rt.key_prefix in seen or "delete" not in rt.verbs:
                continue
            seen.add(rt.key_prefix)
            res = await ctx.backend.list(rt.namespace_prefix(name))
            for kv in res.items:
                obj = codec.decode(kv.value, kv.mod_revision)
                oname = obj["metadata"]["name"]
                try:
                    _, removed = await delete(ctx.registry, rt, name, oname, DeleteOpts(grace_period=None),
                                              WriteOpts())
                except errors.ApiError as e:
                    if e.code != 404:
                        remaining += 1
                    continue
                if not removed:
                    remaining += 1
        if remaining:
            return False
        rt = _ns_type(ctx)

        async def fn(old: Obj | None) -> Obj | None:
            if old is None:
                return None
            fins = [f for f in (old.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
            if fins == (old.get("spec") or {}).get("finalizers"):
                return None
            new = codec.copy(old)
            new.setdefault("spec", {})["finalizers"] = fins
            return new

        with contextlib.suppress(errors.ApiError):
            if await ctx.registry.get_kv(rt, "", name) is None:
                return True
            await ctx.registry.guaranteed_update(rt, "", name, fn, WriteOpts())
        return await _remove_if_done(ctx, name)
