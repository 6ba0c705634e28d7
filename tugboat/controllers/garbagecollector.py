"""Garbage collector: delete objects whose owners are gone; run foreground and orphan deletion.

Upstream keeps an explicit owner→dependents graph; here the graph *is* the informer caches
plus one index per resource (owner uid → dependents), which gives the same answers with
far less code. Every resource that can be listed, watched and deleted is watched (events
excepted, as upstream).

Per object the collector decides like upstream's attemptToDeleteItem: its owners are
*solid* (exist), *dangling* (absent — confirmed by a live GET with uid check, never by the
cache alone) or *waiting* (being deleted in the foreground). With a solid owner it only
drops references to the others; with none it is deleted (in the foreground if a waiting
owner needs its own dependents gone first). An owner being deleted in the foreground
keeps its `foregroundDeletion` finalizer until no dependent that blocks it is left; one
with the `orphan` finalizer first has its reference stripped from every dependent.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api.scheme import ResourceType
from tugboat.client import (
    ApiStatusError,
    SharedInformer,
    deleted_object,
    is_conflict,
    is_not_found,
    meta_namespace_key,
)
from tugboat.controllers.base import BaseController, ControllerContext, register

log = logging.getLogger(__name__)
Obj = dict[str, Any]
ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"
OWNER_INDEX = "garbagecollector/owner-uid"
IGNORED = {("", "events"), ("events.k8s.io", "events")}
Key = tuple[str, str, str]  # (action, resource id, object key)


def _owner_uids(obj: Obj) -> list[str]:
    return [r["uid"] for r in (obj.get("metadata") or {}).get("ownerReferences") or () if r.get("uid")]


def _fins(obj: Obj) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or ())


def _deleting_with(obj: Obj, fin: str) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp")) and fin in _fins(obj)


def _split_api_version(api_version: str) -> tuple[str, str]:
    g, _, v = api_version.rpartition("/")
    return g, v


@register
class GarbageCollector(BaseController):
    name = "garbagecollector"
    workers = 4

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.recorder = ctx.recorder("garbage-collector-controller")
        self.rts: dict[str, ResourceType] = {}
        self.by_gk: dict[tuple[str, str], str] = {}  # (group, kind) -> resource id
        self.informers: dict[str, SharedInformer] = {}

    def monitored(self) -> list[ResourceType]:
        out, seen = [], set()
        for rt in self.ctx.scheme.all():
            store = (rt.store_group, rt.store_resource)
            if store in seen or (rt.group, rt.plural) in IGNORED or rt.custom:
                continue
            if not {"list", "watch", "delete"} <= set(rt.verbs):
                continue
            seen.add(store)
            out.append(rt)
        return out

    def setup(self) -> None:
        for rt in self.monitored():
            rid = f"{rt.group}/{rt.version}/{rt.plural}"
            self.rts[rid] = rt
            for other in self.ctx.scheme.versions_of(rt.group, rt.plural):
                self.by_gk[(other.group, other.kind)] = rid
            inf = self.ctx.informers.informer(rt, indexers={OWNER_INDEX: _owner_uids})
            self.informers[rid] = inf
            inf.add_event_handler(on_add=lambda o, rid=rid: self._changed(rid, None, o),  # type: ignore[misc]
                                  on_update=lambda old, new, rid=rid: self._changed(rid, old, new),  # type: ignore[misc]
                                  on_delete=lambda o, rid=rid: self._deleted(rid, deleted_object(o)))  # type: ignore[misc]

    # -- graph events ------------------------------------------------------------------------------

    def _q(self, action: str, rid: str, obj: Obj) -> None:
        self.loop.enqueue((action, rid, meta_namespace_key(obj)))

    def _changed(self, rid: str, old: Obj | None, new: Obj) -> None:
        if old is not None and old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if _deleting_with(new, ORPHAN):
            self._q("orphan", rid, new)
        if _deleting_with(new, FOREGROUND):
            if old is None or not _deleting_with(old, FOREGROUND):
                for drid, dep in self.dependents(new["metadata"].get("uid", "")):
                    self._q("delete", drid, dep)
            self._q("delete", rid, new)
        if _owner_uids(new):
            self._q("delete", rid, new)
        if old is not None:  # references dropped: an owner waiting on us may be done now
            for uid in set(_owner_uids(old)) - set(_owner_uids(new)):
                self._requeue_waiting_owner(old, uid)

    def _deleted(self, rid: str, obj: Obj) -> None:
        for drid, dep in self.dependents(obj["metadata"].get("uid", "")):
            self._q("delete", drid, dep)
        for uid in _owner_uids(obj):
            self._requeue_waiting_owner(obj, uid)

    def _requeue_waiting_owner(self, dep: Obj, uid: str) -> None:
        for ref in dep["metadata"].get("ownerReferences") or ():
            if ref.get("uid") != uid:
                continue
            found = self._cached_owner(dep, ref)
            if found is not None and _deleting_with(found[1], FOREGROUND):
                self._q("delete", found[0], found[1])

    def dependents(self, uid: str) -> list[tuple[str, Obj]]:
        if not uid:
            return []
        return [(rid, o) for rid, inf in self.informers.items() for o in inf.indexer.by_index(OWNER_INDEX, uid)]

    def _owner_rid(self, ref: Obj) -> str | None:
        g, _ = _split_api_version(ref.get("apiVersion", ""))
        return self.by_gk.get((g, ref.get("kind", "")))

    def _cached_owner(self, dep: Obj, ref: Obj) -> tuple[str, Obj] | None:
        rid = self._owner_rid(ref)
        if rid is None:
            return None
        rt = self.rts[rid]
        ns = dep["metadata"].get("namespace") if rt.namespaced else None
        o = self.informers[rid].lister.get(ref.get("name", ""), ns)
        if o is None or o["metadata"].get("uid") != ref.get("uid"):
            return None
        return rid, o

    # -- work ----------------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:  # type: ignore[override]
        action, rid, okey = key
        rt = self.rts[rid]
        obj = self.informers[rid].indexer.get(okey)
        if obj is None:
            return None
        if action == "orphan":
            await self._orphan(rt, obj)
        else:
            await self._attempt_delete(rid, rt, obj)
        return None

    async def _owner_state(self, rt: ResourceType, dep: Obj, ref: Obj) -> str:
        """'solid', 'dangling' or 'waiting' (owner being deleted in the foreground)."""
        rid = self._owner_rid(ref)
        if rid is None:
            return "solid"  # a kind we don't know (e.g. a CRD): never collect on a guess
        ort = self.rts[rid]
        if ort.namespaced and not rt.namespaced:
            self.recorder.emit(dep, "Warning", "OwnerRefInvalidNamespace",
                               f"ownerRef {ref} does not exist in namespace \"\"")
            return "dangling"
        cached = self._cached_owner(dep, ref)
        if cached is not None:
            return "waiting" if _deleting_with(cached[1], FOREGROUND) else "solid"
        ns = dep["metadata"].get("namespace") if ort.namespaced else None
        try:  # absent from the cache: only a live read may declare it gone
            live = await self.client.get(ort, ref.get("name", ""), ns)
        except ApiStatusError as e:
            if is_not_found(e):
                return "dangling"
            raise
        if live["metadata"].get("uid") != ref.get("uid"):
            return "dangling"
        return "waiting" if _deleting_with(live, FOREGROUND) else "solid"

    async def _attempt_delete(self, rid: str, rt: ResourceType, obj: Obj) -> None:
        md = obj["metadata"]
        if md.get("deletionTimestamp"):
            if FOREGROUND in _fins(obj):
                await self._process_deleting_dependents(rt, obj)
            return
        refs = md.get("ownerReferences") or []
        if not refs:
            return
        states = {r["uid"]: await self._owner_state(rt, obj, r) for r in refs if r.get("uid")}
        solid = [u for u, s in states.items() if s == "solid"]
        gone = {u for u, s in states.items() if s != "solid"}
        if solid:
            if gone:
                await self._patch_refs(rt, obj, lambda r: None if r.get("uid") in gone else r)
            return
        waiting = [u for u, s in states.items() if s == "waiting"]
        if waiting and self.dependents(md.get("uid", "")):
            for _, dep in self.dependents(md.get("uid", "")):
                if _deleting_with(dep, FOREGROUND):  # a possible cycle: stop blocking the owners
                    await self._patch_refs(rt, obj, lambda r: {**r, "blockOwnerDeletion": False}
                                           if r.get("uid") in waiting else r)
                    break
            await self._delete(rt, obj, "Foreground")
            return
        fins = _fins(obj)
        await self._delete(rt, obj, "Orphan" if ORPHAN in fins else "Foreground" if FOREGROUND in fins
                           else "Background")

    async def _process_deleting_dependents(self, rt: ResourceType, owner: Obj) -> None:
        uid = owner["metadata"].get("uid")
        blocking = [(drid, d) for drid, d in self.dependents(uid or "")
                    if any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                           for r in d["metadata"].get("ownerReferences") or ())]
        if not blocking:
            await self._remove_finalizer(rt, owner, FOREGROUND)
            return
        for drid, d in blocking:
            if not _deleting_with(d, FOREGROUND):
                self._q("delete", drid, d)

    async def _orphan(self, rt: ResourceType, owner: Obj) -> None:
        if not _deleting_with(owner, ORPHAN):
            return
        uid = owner["metadata"].get("uid")
        for drid, dep in self.dependents(uid or ""):
            await self._patch_refs(self.rts[drid], dep, lambda r: None if r.get("uid") == uid else r)
        await self._remove_finalizer(rt, owner, ORPHAN)

    # -- writes --------------------------------------------------------------------------------------

    async def _delete(self, rt: ResourceType, obj: Obj, policy: str) -> None:
        md = obj["metadata"]
        try:
            await self.client.delete(rt, md["name"], md.get("namespace"), propagation_policy=policy,
                                     preconditions={"uid": md["uid"]})
        except ApiStatusError as e:
            if not (is_not_found(e) or is_conflict(e)):  # gone, or replaced by a new object
                raise

    async def _patch_refs(self, rt: ResourceType, obj: Obj, fn: Any) -> None:
        md = obj["metadata"]
        refs = list(md.get("ownerReferences") or [])
        new = [x for x in (fn(r) for r in refs) if x is not None]
        if new == refs:
            return
        ops: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": md.get("uid")},
                          {"op": "test", "path": "/metadata/ownerReferences", "value": refs}]
        ops.append({"op": "replace", "path": "/metadata/ownerReferences", "value": new} if new
                   else {"op": "remove", "path": "/metadata/ownerReferences"})
        try:
            await self.client.patch(rt, md["name"], ops, md.get("namespace"), patch_type="json")
        except ApiStatusError as e:
            if not is_not_found(e):
                raise  # stale cache: retried with back-off

    async def _remove_finalizer(self, rt: ResourceType, owner: Obj, fin: str) -> None:
        md = owner["metadata"]
        for _ in range(5):
            try:
                cur = await self.client.get(rt, md["name"], md.get("namespace"))
            except ApiStatusError as e:
                if is_not_found(e):
                    return
                raise
            if cur["metadata"].get("uid") != md.get("uid") or fin not in _fins(cur):
                return
            cur["metadata"]["finalizers"] = [f for f in _fins(cur) if f != fin]
            try:
                await self.client.update(rt, cur, md.get("namespace"))
                return
            except ApiStatusError as e:
                if is_not_found(e):
                    return
                if not is_conflict(e):
                    raise
        raise RuntimeError(f"could not remove finalizer {fin} from {md.get('name')}: conflicts")
