"""CustomResourceDefinitions: register served versions in the Scheme, keep CRD status,
serve custom objects through the generic registry, and clean them up on CRD deletion
(upstream's `customresourcecleanup.apiextensions.k8s.io` finalizer, done in-server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tugboat.api import crd as crdlib
from tugboat.api import errors
from tugboat.api.errors import FieldError
from tugboat.api.scheme import ResourceType

from . import codec
from .context import Ctx
from .deletion import DeleteOpts, delete
from .registry import GenericStrategy, WriteOpts

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


def resource_types(crd: Obj) -> list[ResourceType]:
    return list(crdlib.resource_types(crd))


def _version_schema(crd: Obj, version: str) -> Any:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


class CustomStrategy(GenericStrategy):
    def __init__(self, rt: ResourceType, schema: Any):
        super().__init__(rt)
        self.schema = schema
        self.tracks_generation = True

    def default(self, obj: Obj) -> None:
        if self.schema is not None:
            crdlib.apply_defaults(obj, self.schema)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        if self.schema is not None:
            errs += crdlib.validate(obj, self.schema)
        return errs


class CrdManager:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.by_name: dict[str, list[ResourceType]] = {}
        self.crds: dict[str, Obj] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def crd_type(self) -> ResourceType:
        rt = self.ctx.scheme.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert rt is not None
        return rt

    async def load(self) -> None:
        res = await self.ctx.backend.list(self.crd_type.key_prefix)
        for kv in res.items:
            crd = codec.decode(kv.value, kv.mod_revision)
            self.register(crd)
            if crd["metadata"].get("deletionTimestamp"):
                self._spawn(self.cleanup(crd["metadata"]["name"]))

    def register(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        self.unregister(name)
        try:
            types = resource_types(crd)
        except Exception:
            log.exception("CRD %s: cannot derive resource types", name)
            return
        for rt in types:
            self.ctx.scheme.add(rt)
            storage_ver = next((v.get("name") for v in (crd.get("spec") or {}).get("versions") or []
                                if v.get("storage")), rt.version)
            schema = _version_schema(crd, storage_ver if rt.store_version == storage_ver else rt.version)
            self.ctx.registry.custom_strategies[(rt.group, rt.kind)] = CustomStrategy(rt, schema)
            for v in (crd.get("spec") or {}).get("versions") or []:
                if v.get("name") == rt.version and v.get("additionalPrinterColumns"):
                    self.ctx.crd_columns[(rt.group, rt.version, rt.plural)] = v["additionalPrinterColumns"]
        self.by_name[name] = types
        self.crds[name] = crd

    def unregister(self, name: str) -> None:
        for rt in self.by_name.pop(name, []):
            self.ctx.scheme.remove(rt.group, rt.version, rt.plural)
            self.ctx.registry.custom_strategies.pop((rt.group, rt.kind), None)
            self.ctx.crd_columns.pop((rt.group, rt.version, rt.plural), None)
        self.crds.pop(name, None)

    def _crd_of(self, rt: ResourceType) -> Obj | None:
        for name, types in self.by_name.items():
            if any(t.group == rt.group and t.plural == rt.plural for t in types):
                return self.crds.get(name)
        return None

    def prune(self, rt: ResourceType, obj: Obj) -> list[str]:
        crd = self._crd_of(rt)
        if crd is None:
            return []
        schema = _version_schema(crd, rt.version)
        if schema is None or (crd.get("spec") or {}).get("preserveUnknownFields"):
            return []
        return crdlib.prune(obj, schema)

    def openapi_schemas(self, group: str, version: str) -> dict[tuple[str, str], Any] | None:
        out: dict[tuple[str, str], Any] = {}
        for name, types in self.by_name.items():
            for rt in types:
                if rt.group == group and rt.version == version:
                    out[(rt.kind, rt.plural)] = _version_schema(self.crds[name], version)
        return out or None

    def scale_paths(self, rt: ResourceType) -> tuple[str, str, str | None] | None:
        crd = self._crd_of(rt)
        if crd is None:
            return None
        for v in (crd.get("spec") or {}).get("versions") or []:
            if v.get("name") == rt.version:
                sc = (v.get("subresources") or {}).get("scale")
                if sc:
                    return sc.get("specReplicasPath", ".spec.replicas"), sc.get("statusReplicasPath",
                                                                                 ".status.replicas"), \
                        sc.get("labelSelectorPath")
        return None

    # ---- registry hooks ------------------------------------------------------------------
    async def admit(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if rt.group != "apiextensions.k8s.io" or rt.kind != "CustomResourceDefinition" or new is None:
            return
        if op == "CREATE":
            fins = new["metadata"].setdefault("finalizers", [])
            if CLEANUP not in fins:
                fins.append(CLEANUP)
            spec = new.get("spec") or {}
            names = spec.get("names") or {}
            expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
            if new["metadata"].get("name") != expected:
                raise errors.invalid_object("apiextensions.k8s.io", "CustomResourceDefinition",
                                            new["metadata"].get("name", ""), [errors.invalid(
                                                "metadata.name", new["metadata"].get("name"),
                                                "must be spec.names.plural+\".\"+spec.group")])

    async def committed(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None) -> None:
        if rt.group != "apiextensions.k8s.io" or rt.kind != "CustomResourceDefinition":
            return
        if op == "DELETE" and old is not None:
            self.unregister(old["metadata"]["name"])
            return
        if op not in ("CREATE", "UPDATE") or new is None:
            return
        name = new["metadata"]["name"]
        if new["metadata"].get("deletionTimestamp"):
            if CLEANUP in (new["metadata"].get("finalizers") or []):
                self._spawn(self.cleanup(name))
            return
        self.register(new)
        if not _established(new):
            self._spawn(self.set_status(name))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def set_status(self, name: str) -> None:
        now = self.ctx.clock.rfc3339()

        async def fn(old: Obj | None) -> Obj | None:
            if old is None or _established(old):
                return None
            new = codec.copy(old)
            st = new.setdefault("status", {})
            st["acceptedNames"] = (new.get("spec") or {}).get("names") or {}
            st["conditions"] = [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts",
                 "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted"},
            ]
            st["storedVersions"] = [v["name"] for v in (new.get("spec") or {}).get("versions") or []
                                    if v.get("storage")]
            return new

        with contextlib.suppress(errors.ApiError):
            await self.ctx.registry.guaranteed_update(self.crd_type, "", name, fn, WriteOpts())

    async def cleanup(self, name: str) -> None:
        """Delete every custom object of a deleted CRD, then drop the cleanup finalizer."""
        types = self.by_name.get(name, [])
        try:
            for rt in types[:1]:
                for _ in range(100):
                    res = await self.ctx.backend.list(rt.key_prefix)
                    if not res.items:
                        break
                    for kv in res.items:
                        obj = codec.decode(kv.value, kv.mod_revision)
                        m = obj["metadata"]
                        with contextlib.suppress(errors.ApiError):
                            await delete(self.ctx.registry, rt, m.get("namespace", ""), m["name"], DeleteOpts(),
                                         WriteOpts())
                    await asyncio.sleep(0.2)

            async def fn(old: Obj | None) -> Obj | None:
                if old is None:
                    return None
                fins = old["metadata"].get("finalizers") or []
                if CLEANUP not in fins:
                    return None
                new = codec.copy(old)
                new["metadata"]["finalizers"] = [f for f in fins if f != CLEANUP]
                return new

            with contextlib.suppress(errors.ApiError):
                await self.ctx.registry.guaranteed_update(self.crd_type, "", name, fn, WriteOpts())
        except Exception:
            log.exception("CRD %s cleanup", name)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()


def _established(crd: Obj) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])
