"""Storage admission: DefaultStorageClass, StorageObjectInUseProtection, PersistentVolumeClaimResize.

Upstream 1.32 runs these three plugins for claims and volumes (plugin/pkg/admission/storage):
* DefaultStorageClass — a claim CREATED without `storageClassName` (absent, not "") gets the
  class annotated `storageclass.kubernetes.io/is-default-class: "true"` (the newest one if
  several are marked);
* StorageObjectInUseProtection — every new claim gets the `kubernetes.io/pvc-protection`
  finalizer and every new volume `kubernetes.io/pv-protection`, so a claim a pod uses or a
  bound volume is not removed until the protection controllers say it is free;
* PersistentVolumeClaimResize — growing a claim is allowed only when its class has
  `allowVolumeExpansion: true`.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.scheme import ResourceType

from . import codec
from .registry import Registry, WriteOpts

Obj = dict[str, Any]
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
DEFAULT_ANN = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
BETA_CLASS_ANN = "volume.beta.kubernetes.io/storage-class"


def _storage(obj: Obj | None) -> str | None:
    return ((((obj or {}).get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


class StorageAdmission:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.sc_type = registry.scheme.get("storage.k8s.io", "v1", "storageclasses")

    async def _classes(self) -> list[Obj]:
        assert self.sc_type is not None
        res = await self.registry.backend.list(self.sc_type.key_prefix)
        return [codec.decode(kv.value, kv.mod_revision) for kv in res.items]

    async def _class(self, name: str) -> Obj | None:
        assert self.sc_type is not None
        kv = await self.registry.backend.get(self.sc_type.key(None, name))
        return codec.decode(kv.value, kv.mod_revision) if kv is not None else None

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if new is None or rt.group != "" or opts.subresource or self.sc_type is None:
            return
        if rt.kind == "PersistentVolume" and op == "CREATE":
            _add_finalizer(new, PV_PROTECTION)
        elif rt.kind == "PersistentVolumeClaim":
            if op == "CREATE":
                _add_finalizer(new, PVC_PROTECTION)
                await self._default_class(new)
            elif op == "UPDATE" and old is not None:
                await self._resize(new, old)

    async def _default_class(self, pvc: Obj) -> None:
        spec = pvc.setdefault("spec", {})
        if "storageClassName" in spec and spec["storageClassName"] is not None:
            return
        if BETA_CLASS_ANN in ((pvc.get("metadata") or {}).get("annotations") or {}):
            return
        defaults = [sc for sc in await self._classes()
                    if any(((sc.get("metadata") or {}).get("annotations") or {}).get(a) == "true" for a in DEFAULT_ANN)]
        if not defaults:
            return
        defaults.sort(key=lambda sc: (sc["metadata"].get("creationTimestamp") or "", sc["metadata"]["name"]))
        spec["storageClassName"] = defaults[-1]["metadata"]["name"]

    async def _resize(self, new: Obj, old: Obj) -> None:
        a, b = _storage(new), _storage(old)
        if a is None or b is None or a == b:
            return
        from tugboat.api.quantity import parse_quantity
        try:
            if parse_quantity(a) <= parse_quantity(b):
                return  # shrinking is the strategy's (Invalid) error
        except ValueError:
            return
        name = (new.get("metadata") or {}).get("name", "")
        cls = (new.get("spec") or {}).get("storageClassName") or ""
        sc = await self._class(cls) if cls else None
        if sc is None or not sc.get("allowVolumeExpansion"):
            raise errors.forbidden_error(
                f'persistentvolumeclaims "{name}" is forbidden: only dynamically provisioned pvc can be resized '
                "and the storageclass that provisions the pvc must support resize")


def _add_finalizer(obj: Obj, finalizer: str) -> None:
    fins = obj.setdefault("metadata", {}).setdefault("finalizers", [])
    if finalizer not in fins:
        fins.append(finalizer)
