"""PersistentVolume and PersistentVolumeClaim strategies.

A PV describes one real piece of storage (exactly one source, a storage capacity, access
modes); a PVC asks for one. Once a claim is bound its spec is frozen except for growing the
storage request (volume expansion): the binder and the node agent act on what was bound.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson

from ..errors import FieldError, forbidden, invalid, not_supported, required
from ..quantity import quantity
from ..strategy import Obj, Strategy, register
from .core_common import as_dict, as_list, validate_dns_subdomain, validate_enum, validate_resource_list
from .core_volumes import default_legacy_sources, validate_one_source

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
VOLUME_MODES = ["Block", "Filesystem"]
PV_SOURCES = (
    "gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "quobyte", "cinder",
    "cephfs", "iscsi", "fc", "flocker", "flexVolume", "azureFile", "vsphereVolume", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "local", "storageos", "csi",
)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_access_modes(modes: Any, path: str) -> list[FieldError]:
    modes = as_list(modes)
    if not modes:
        return [required(path)]
    errs = [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


class PersistentVolumeStrategy(Strategy):
    kind = "PersistentVolume"
    namespaced = False
    has_status = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": _now()}

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            if not spec.get("persistentVolumeReclaimPolicy"):
                spec["persistentVolumeReclaimPolicy"] = "Retain"
            if not spec.get("volumeMode"):
                spec["volumeMode"] = "Filesystem"
            hp = spec.get("hostPath")
            if isinstance(hp, dict):
                hp.setdefault("type", "")
            default_legacy_sources(spec)
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Pending"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs + [required("spec")]
        errs += validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        cap = spec.get("capacity")
        if not cap:
            errs.append(required("spec.capacity"))
        elif not isinstance(cap, dict) or "storage" not in cap or len(cap) > 1:
            errs.append(not_supported("spec.capacity", cap, ["storage"]))
        else:
            qs, qerrs = validate_resource_list(cap, "spec.capacity", container=False)
            errs += qerrs
            if "storage" in qs and qs["storage"].sign() <= 0:
                errs.append(invalid("spec.capacity[storage]", qs["storage"].canonical(), "must be greater than zero"))
        errs += validate_enum(spec.get("persistentVolumeReclaimPolicy"), "spec.persistentVolumeReclaimPolicy",
                              RECLAIM_POLICIES)
        errs += validate_enum(spec.get("volumeMode"), "spec.volumeMode", VOLUME_MODES, allow_empty=True)
        if spec.get("storageClassName"):
            errs += validate_dns_subdomain(spec["storageClassName"], "spec.storageClassName")
        errs += validate_one_source(spec, "spec", PV_SOURCES)
        if spec.get("local") is not None and not spec.get("nodeAffinity"):
            errs.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if {k: spec.get(k) for k in PV_SOURCES} != {k: old_spec.get(k) for k in PV_SOURCES}:
            errs.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
        if spec.get("volumeMode") != old_spec.get("volumeMode"):
            errs.append(invalid("spec.volumeMode", spec.get("volumeMode"), "field is immutable"))
        if old_spec.get("nodeAffinity") and spec.get("nodeAffinity") != old_spec["nodeAffinity"]:
            errs.append(invalid("spec.nodeAffinity", "", "field is immutable"))
        return errs


class PersistentVolumeClaimStrategy(Strategy):
    kind = "PersistentVolumeClaim"
    has_status = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict) and not spec.get("volumeMode"):
            spec["volumeMode"] = "Filesystem"
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Pending"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs + [required("spec")]
        return errs + validate_pvc_spec(spec, "spec")

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        a, b = _copy(spec), _copy(old_spec)
        if _class_upgrade_from_nil(new, old):  # retroactive default StorageClass (GA in 1.28)
            b["storageClassName"] = a["storageClassName"]
        if not old_spec.get("volumeName"):
            b["volumeName"] = a.get("volumeName")
            if b["volumeName"] is None:
                b.pop("volumeName")
        bound = as_dict(new.get("status")).get("phase") == "Bound"
        for d in (a, b):
            d.pop("volumeAttributesClassName", None)
        if bound:
            req = as_dict(as_dict(a.get("resources")).get("requests"))
            old_req = as_dict(as_dict(b.get("resources")).get("requests"))
            if "storage" in old_req and "storage" in req:
                req["storage"] = old_req["storage"]
        if a != b:
            errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                  "volumeAttributesClassName for bound claims"))
        new_size = _storage(spec)
        old_size = _storage(old_spec)
        if new_size is not None and old_size is not None and new_size < old_size:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
        return errs


def _class_upgrade_from_nil(new: Obj, old: Obj) -> bool:
    """A claim created without any class may get one later (never "" and never changed again)."""
    ann = "volume.beta.kubernetes.io/storage-class"
    if ann in (as_dict(as_dict(old.get("metadata")).get("annotations"))):
        return False
    return as_dict(old.get("spec")).get("storageClassName") is None and bool(
        as_dict(new.get("spec")).get("storageClassName"))


def _copy(x: Any) -> Any:
    return orjson.loads(orjson.dumps(x))


def _storage(spec: Obj) -> Any:
    raw = as_dict(as_dict(spec.get("resources")).get("requests")).get("storage")
    try:
        return quantity(raw) if raw is not None else None
    except ValueError:
        return None


def validate_pvc_spec(spec: Obj, path: str) -> list[FieldError]:
    """Also used for volumeClaimTemplates (StatefulSet) and ephemeral volumes."""
    errs = validate_access_modes(spec.get("accessModes"), f"{path}.accessModes")
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errs.append(required(f"{path}.resources[storage]"))
    else:
        qs, qerrs = validate_resource_list({"storage": requests["storage"]}, f"{path}.resources.requests",
                                           container=False)
        errs += qerrs
        if "storage" in qs and qs["storage"].sign() <= 0:
            errs.append(invalid(f"{path}.resources[storage]", qs["storage"].canonical(), "must be greater than zero"))
    errs += validate_enum(spec.get("volumeMode"), f"{path}.volumeMode", VOLUME_MODES, allow_empty=True)
    if spec.get("storageClassName"):
        errs += validate_dns_subdomain(spec["storageClassName"], f"{path}.storageClassName")
    return errs


register(PersistentVolumeStrategy())
register(PersistentVolumeClaimStrategy())
