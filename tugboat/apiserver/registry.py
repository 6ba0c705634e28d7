"""The one generic REST store, parameterised per kind by a Strategy (upstream's registry).

Every kind — built-in or CRD-defined — is created, read, updated and deleted through here:
server-set metadata (uid, creationTimestamp, generation, generateName), strategy hooks
(prepare/default/validate), admission, managed fields, and optimistic concurrency in one
`guaranteed_update`. Deletion (finalizers, grace, propagation) lives in `deletion.py` and
LIST in `listing.py`; both use this class's helpers.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError, FieldError
from tugboat.api.scheme import ResourceType, Scheme
from tugboat.api.strategy import Strategy, strategy_for
from tugboat.store.backend import Backend, ConflictError, KeyExistsError, KeyValue, NotFoundError
from tugboat.util.clock import Clock

from . import codec, compat
from .request import UserInfo

Obj = dict[str, Any]
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # upstream utilrand alphabet (no vowels)
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
# Kinds whose metadata.generation upstream 1.32 does not track (no spec/status split).
_NO_GENERATION = frozenset({"Pod", "Node", "Namespace", "Service", "PersistentVolume", "PersistentVolumeClaim",
                            "ConfigMap", "Secret", "Endpoints", "Event", "ServiceAccount", "LimitRange",
                            "ResourceQuota", "PodTemplate", "Lease", "EndpointSlice", "ControllerRevision",
                            "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "StorageClass",
                            "PriorityClass", "IngressClass", "Binding"})
# Kinds that PUT may create when absent (upstream AllowCreateOnUpdate).
_CREATE_ON_UPDATE = frozenset({"Endpoints", "Event", "Lease"})
# Kinds whose DELETE returns the deleted object rather than a Status.
RETURN_DELETED_KINDS = frozenset({"Pod", "Service"})


@dataclass(slots=True)
class WriteOpts:
    dry_run: bool = False
    field_manager: str = ""
    user: UserInfo | None = None
    subresource: str = ""
    warnings: list[str] = field(default_factory=list)
    create_on_update: bool = False  # PUT/apply upsert


# Admission hook signature: (operation, rt, new, old, opts) -> None (may mutate `new`, may raise).
AdmitFn = Callable[[str, ResourceType, Obj | None, Obj | None, WriteOpts], Awaitable[None]]
CommitFn = Callable[[str, ResourceType, Obj | None, Obj | None], Awaitable[None]]


class GenericStrategy(Strategy):
    """Strategy for kinds without a registered one (and the base of the CRD strategy)."""

    def __init__(self, rt: ResourceType):
        self.group, self.kind, self.namespaced = rt.group, rt.kind, rt.namespaced
        self.has_status = rt.has_status


class Registry:
    def __init__(self, backend: Backend, scheme: Scheme, clock: Clock | None = None):
        self.backend = backend
        self.scheme = scheme
        self.clock = clock or Clock()
        self.admit_hooks: list[AdmitFn] = []  # mutating, then validating (in list order)
        self.commit_hooks: list[CommitFn] = []
        self.custom_strategies: dict[tuple[str, str], Strategy] = {}
        self._strategies: dict[tuple[str, str], Strategy] = {}

    # ---- helpers ----------------------------------------------------------------------
    def strategy(self, rt: ResourceType) -> Strategy:
        k = (rt.store_group, rt.kind)
        s = self.custom_strategies.get(k) or self._strategies.get(k)
        if s is None:
            s = strategy_for(rt.store_group, rt.kind) or GenericStrategy(rt)
            self._strategies[k] = s
        return s

    def storage_type(self, rt: ResourceType) -> ResourceType:
        if rt.store_version == rt.version and rt.storage_group is None:
            return rt
        st = self.scheme.by_kind(rt.store_group, rt.store_version, rt.kind)
        return st or rt

    def to_storage(self, rt: ResourceType, obj: Obj) -> Obj:
        st = self.storage_type(rt)
        return obj if st is rt else compat.convert(obj, st.api_version)

    def to_version(self, rt: ResourceType, obj: Obj) -> Obj:
        return compat.convert(obj, rt.api_version)

    def tracks_generation(self, rt: ResourceType) -> bool:
        s = self.strategy(rt)
        v = getattr(s, "tracks_generation", None)
        if v is not None:
            return bool(v)
        return rt.custom or rt.kind not in _NO_GENERATION

    @staticmethod
    def name_of(rt: ResourceType) -> str:
        return rt.plural

    def not_found(self, rt: ResourceType, name: str) -> ApiError:
        return errors.not_found(rt.group, rt.plural, name)

    def key(self, rt: ResourceType, ns: str, name: str) -> str:
        return rt.key(ns if rt.namespaced else None, name)

    async def get_kv(self, rt: ResourceType, ns: str, name: str, revision: int = 0) -> KeyValue | None:
        return await self.backend.get(self.key(rt, ns, name), revision)

    async def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        kv = await self.get_kv(rt, ns, name)
        if kv is None:
            raise self.not_found(rt, name)
        return self.to_version(rt, codec.decode(kv.value, kv.mod_revision))

    def _invalid(self, rt: ResourceType, name: str, errs: list[FieldError]) -> ApiError:
        return errors.invalid_object(rt.group, rt.kind, name, errs)

    async def _admit(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        for hook in self.admit_hooks:
            await hook(op, rt, new, old, opts)

    async def _committed(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None) -> None:
        for hook in self.commit_hooks:
            await hook(op, rt, new, old)

    def _managed(self, rt: ResourceType, old: Obj | None, new: Obj, opts: WriteOpts) -> None:
        if not opts.field_manager:
            return
        out = compat.update_managed_fields(
            old, new, manager=opts.field_manager, schema=compat.schema_for(rt.group, rt.version, rt.kind),
            api_version=rt.api_version, now=self.clock.rfc3339(), subresource=opts.subresource, operation="Update")
        if isinstance(out, dict) and out is not new:
            new.clear()
            new.update(out)

    # ---- create -----------------------------------------------------------------------
    async def create(self, rt: ResourceType, ns: str, obj: Obj, opts: WriteOpts, *, managed: bool = True) -> Obj:
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        for f in _SERVER_META + ("resourceVersion", "selfLink"):
            meta.pop(f, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.clock.rfc3339()
        if self.tracks_generation(rt):
            meta["generation"] = 1
        gen_name = not meta.get("name") and isinstance(meta.get("generateName"), str) and meta.get("generateName")
        if gen_name:
            meta["name"] = _generate(meta["generateName"])
        strat = self.strategy(rt)
        strat.prepare_for_create(obj)
        if rt.has_status and not rt.custom:
            obj.setdefault("status", {})  # Go's non-pointer Status: always at least {}
        strat.default(obj)
        errs = strat.validate(obj)
        if errs:
            raise self._invalid(rt, meta.get("name") or meta.get("generateName", ""), errs)
        await self._admit("CREATE", rt, obj, None, opts)
        if managed:
            self._managed(rt, None, obj, opts)
        stored = self.to_storage(rt, obj)
        key = self.key(rt, ns, meta["name"])
        if opts.dry_run:
            if await self.backend.get(key) is not None:
                raise errors.already_exists(rt.group, rt.plural, meta["name"])
            return obj
        for attempt in range(8):
            try:
                rev = await self.backend.create(key, codec.encode(stored))
                break
            except KeyExistsError:
                if not gen_name or attempt == 7:
                    await self._committed("CREATE_FAILED", rt, obj, None)
                    raise errors.already_exists(rt.group, rt.plural, meta["name"]) from None
                meta["name"] = _generate(meta["generateName"])
                stored["metadata"]["name"] = meta["name"]
                key = self.key(rt, ns, meta["name"])
        meta["resourceVersion"] = str(rev)
        await self._committed("CREATE", rt, obj, None)
        return obj

    # ---- update -----------------------------------------------------------------------
    async def guaranteed_update(self, rt: ResourceType, ns: str, name: str,
                                fn: Callable[[Obj | None], Awaitable[Obj | None]], opts: WriteOpts,
                                *, precondition_given: bool = False) -> tuple[Obj, bool]:
        """Read-modify-write with optimistic concurrency. `fn(current or None)` returns the new
        object (in the request's version) or None for "no change". Returns (object, created).
        A store conflict is retried unless the caller pinned a resourceVersion (then 409)."""
        key = self.key(rt, ns, name)
        for _ in range(16):
            kv = await self.backend.get(key)
            old = self.to_version(rt, codec.decode(kv.value, kv.mod_revision)) if kv else None
            new = await fn(old)
            if new is None:
                if old is None:
                    raise self.not_found(rt, name)
                if not getattr(kv, "stale", False):
                    return old, False
                new = old  # read with a retired key (encryption.py): rewrite under the current one
            if kv is None or old is None:
                return await self.create(rt, ns, new, opts, managed=False), True
            # encode() never mutates; only a version conversion needs its own copy
            data = codec.encode(new if self.storage_type(rt) is rt else self.to_storage(rt, codec.copy(new)))
            if data == kv.value and not getattr(kv, "stale", False):  # stale: encryption.py rotation
                return old, False
            if opts.dry_run:
                new.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
                return new, False
            meta = new["metadata"]
            if meta.get("deletionTimestamp") and not meta.get("finalizers") and self._deletable_on_update(rt, new):
                try:
                    rev, _ = await self.backend.delete(key, kv.mod_revision)
                except (ConflictError, NotFoundError):
                    if precondition_given:
                        raise errors.stale_conflict(rt.group, rt.plural, name) from None
                    continue
                meta["resourceVersion"] = str(rev)
                await self._committed("DELETE", rt, new, old)
                return new, False
            try:
                rev = await self.backend.update(key, data, kv.mod_revision)
            except (ConflictError, NotFoundError):
                if precondition_given:
                    raise errors.stale_conflict(rt.group, rt.plural, name) from None
                continue
            meta["resourceVersion"] = str(rev)
            await self._committed("UPDATE", rt, new, old)
            return new, False
        raise errors.stale_conflict(rt.group, rt.plural, name)

    def _deletable_on_update(self, rt: ResourceType, obj: Obj) -> bool:
        if rt.kind == "Pod" and rt.group == "":
            return not obj["metadata"].get("deletionGracePeriodSeconds")
        return rt.kind != "Namespace"

    def prepare_update(self, rt: ResourceType, new: Obj, old: Obj, subresource: str) -> None:
        """Server-side rules of every update: name check, server fields kept, strategy hooks,
        validation, generation bump, the no-new-finalizers-while-deleting rule."""
        nmeta = new.setdefault("metadata", {})
        ometa = old.get("metadata") or {}
        if nmeta.get("name") and nmeta["name"] != ometa.get("name"):
            raise errors.bad_request(f"the name of the object ({nmeta['name']}) does not match the name on "
                                     f"the URL ({ometa.get('name')})")
        if rt.namespaced and nmeta.get("namespace") and nmeta["namespace"] != ometa.get("namespace"):
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        nmeta["name"] = ometa.get("name")
        if rt.namespaced:
            nmeta["namespace"] = ometa.get("namespace")
        else:
            nmeta.pop("namespace", None)
        if nmeta.get("uid") and nmeta["uid"] != ometa.get("uid"):
            raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {nmeta['uid']}, "
                                            f"UID in object meta: {ometa.get('uid')}")
        for f in _SERVER_META:
            if f in ometa:
                nmeta[f] = ometa[f]
            else:
                nmeta.pop(f, None)
        strat = self.strategy(rt)
        if subresource == "status":
            strat.prepare_for_status_update(new, old)
            errs = strat.validate_status_update(new, old)
        elif subresource == "approval":  # certificates.k8s.io CSRs: only status.conditions change
            csr: Any = strat  # api/kinds/certificates_csr.py: CsrStrategy's approval hooks
            csr.prepare_for_approval_update(new, old)
            errs = csr.validate_approval_update(new, old)
        else:
            strat.prepare_for_update(new, old)
            strat.default(new)
            errs = strat.validate(new) + strat.validate_update(new, old)
        if ometa.get("deletionTimestamp"):
            added = [f for f in (nmeta.get("finalizers") or []) if f not in (ometa.get("finalizers") or [])]
            if added:
                shown = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
                errs.append(errors.forbidden("metadata.finalizers",
                                             f"no new finalizers can be added if the object is being deleted, "
                                             f"found new finalizers {shown}"))
        if errs:
            raise self._invalid(rt, ometa.get("name", ""), errs)
        if subresource not in ("status", "approval") and self.tracks_generation(rt) and strat.spec_changed(new, old):
            nmeta["generation"] = int(ometa.get("generation") or 0) + 1

    async def update(self, rt: ResourceType, ns: str, name: str, body: Obj, opts: WriteOpts) -> tuple[Obj, bool]:
        """PUT: replace the object (or its status), honouring a resourceVersion precondition."""
        want_rv = (body.get("metadata") or {}).get("resourceVersion") or ""
        allow_create = opts.create_on_update or (rt.kind in _CREATE_ON_UPDATE and not opts.subresource)

        async def fn(old: Obj | None) -> Obj | None:
            new = codec.copy(body)
            if old is None:
                if not allow_create:
                    raise self.not_found(rt, name)
                if want_rv:
                    raise self.not_found(rt, name)
                new.setdefault("metadata", {})["name"] = name
                self._managed(rt, None, new, opts)
                return new
            if not want_rv:
                if opts.subresource == "" and not _unconditional_update_ok(rt):
                    raise self._invalid(rt, name, [errors.required("metadata.resourceVersion",
                                                                   "must be specified for an update")])
            elif want_rv != old["metadata"].get("resourceVersion"):
                raise errors.stale_conflict(rt.group, rt.plural, name)
            self.prepare_update(rt, new, old, opts.subresource)
            await self._admit("UPDATE", rt, new, old, opts)
            if _same(new, old):
                return None
            self._managed(rt, old, new, opts)
            return new

        return await self.guaranteed_update(rt, ns, name, fn, opts, precondition_given=bool(want_rv))


def _unconditional_update_ok(rt: ResourceType) -> bool:
    return True  # upstream AllowUnconditionalUpdate() is true for nearly every kind


def _same(new: Obj, old: Obj) -> bool:
    a = {k: v for k, v in new.items() if k != "metadata"}
    b = {k: v for k, v in old.items() if k != "metadata"}
    if a != b:
        return False
    ma = {k: v for k, v in (new.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    mb = {k: v for k, v in (old.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    return ma == mb


def _generate(prefix: str) -> str:
    prefix = prefix[:58]  # upstream MaxGeneratedNameLength = 63 - 5
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(5))
