"""Pod volumes: defaults and validation (upstream `SetDefaults_Volume…` and `ValidateVolumes`).

A volume names exactly one source; the node agent mounts by source type, so an object with
none or two is refused at the API rather than failing on a node. The same one-source rule
(with a different list of sources) applies to PersistentVolumes, which reuse the helpers.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required
from .core_common import (
    as_dict,
    as_list,
    config_key_errors,
    is_int,
    parse_resource_quantity,
    validate_dns_label,
    validate_dns_subdomain,
)

Obj = dict[str, Any]

POD_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)
HOST_PATH_TYPES = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice"]
DEFAULT_MODE = 0o644  # 420


# ---- defaults ------------------------------------------------------------------------------

def default_volume(vol: Obj) -> None:
    if not isinstance(vol, dict):
        return
    if not any(k in vol for k in POD_VOLUME_SOURCES):
        vol["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        src = vol.get(key)
        if isinstance(src, dict):
            src.setdefault("defaultMode", DEFAULT_MODE)
    hp = vol.get("hostPath")
    if isinstance(hp, dict):
        hp.setdefault("type", "")
    da = vol.get("downwardAPI")
    if isinstance(da, dict):
        for item in as_list(da.get("items")):
            _default_field_ref(as_dict(item).get("fieldRef"))
    proj = vol.get("projected")
    if isinstance(proj, dict):
        for src in as_list(proj.get("sources")):
            src = as_dict(src)
            sat = src.get("serviceAccountToken")
            if isinstance(sat, dict):
                sat.setdefault("expirationSeconds", 3600)
            for item in as_list(as_dict(src.get("downwardAPI")).get("items")):
                _default_field_ref(as_dict(item).get("fieldRef"))
    default_legacy_sources(vol)


def default_legacy_sources(src: Obj) -> None:
    """Defaults of in-tree sources shared by pod volumes and PersistentVolumes."""
    iscsi = src.get("iscsi")
    if isinstance(iscsi, dict):
        iscsi.setdefault("iscsiInterface", "default")
    rbd = src.get("rbd")
    if isinstance(rbd, dict):
        rbd.setdefault("pool", "rbd")
        rbd.setdefault("user", "admin")
        rbd.setdefault("keyring", "/etc/ceph/keyring")
    az = src.get("azureDisk")
    if isinstance(az, dict):
        az.setdefault("cachingMode", "ReadWrite")
        az.setdefault("fsType", "ext4")
        az.setdefault("readOnly", False)
        az.setdefault("kind", "Shared")


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        ref.setdefault("apiVersion", "v1")


# ---- validation ----------------------------------------------------------------------------

def validate_volumes(volumes: Any, path: str) -> tuple[dict[str, Obj], list[FieldError]]:
    """Returns the volumes by name (for mount checks) and the errors."""
    errs: list[FieldError] = []
    by_name: dict[str, Obj] = {}
    if volumes is None:
        return by_name, errs
    if not isinstance(volumes, list):
        return by_name, [invalid(path, volumes, "must be a list")]
    for i, vol in enumerate(volumes):
        p = f"{path}[{i}]"
        if not isinstance(vol, dict):
            errs.append(invalid(p, vol, "must be an object"))
            continue
        name = vol.get("name")
        if not name:
            errs.append(required(f"{p}.name"))
        else:
            errs += validate_dns_label(name, f"{p}.name")
            if name in by_name:
                errs.append(_dup(f"{p}.name", name))
            else:
                by_name[name] = vol
        errs += validate_one_source(vol, p, POD_VOLUME_SOURCES)
    return by_name, errs


def _dup(path: str, value: Any) -> FieldError:
    from ..errors import duplicate

    return duplicate(path, value)


def validate_one_source(obj: Obj, path: str, sources: tuple[str, ...]) -> list[FieldError]:
    present = [k for k in sources if obj.get(k) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    errs = [forbidden(f"{path}.{k}", "may not specify more than 1 volume type") for k in present[1:]]
    for k in present[:1]:
        errs += _validate_source(k, obj[k], f"{path}.{k}")
    return errs


def _validate_source(kind: str, src: Any, path: str) -> list[FieldError]:
    if not isinstance(src, dict):
        return [invalid(path, src, "must be an object")]
    errs: list[FieldError] = []
    if kind == "hostPath":
        hp = src.get("path")
        if not hp:
            errs.append(required(f"{path}.path"))
        elif ".." in str(hp).split("/"):
            errs.append(invalid(f"{path}.path", hp, "must not contain '..'"))
        t = src.get("type")
        if t is not None and t not in HOST_PATH_TYPES:
            errs.append(not_supported(f"{path}.type", t, HOST_PATH_TYPES))
    elif kind == "emptyDir":
        medium = src.get("medium", "")
        if medium not in ("", "Memory", "HugePages") and not str(medium).startswith("HugePages-"):
            errs.append(not_supported(f"{path}.medium", medium, ["", "Memory", "HugePages"]))
        if src.get("sizeLimit") is not None:
            q = parse_resource_quantity(src["sizeLimit"], f"{path}.sizeLimit", errs)
            if q is not None and q.sign() < 0:
                errs.append(forbidden(f"{path}.sizeLimit", "SizeLimit field must be a valid resource quantity"))
    elif kind == "secret":
        if not src.get("secretName"):
            errs.append(required(f"{path}.secretName"))
        errs += _validate_mode(src.get("defaultMode"), f"{path}.defaultMode")
        errs += validate_key_to_paths(src.get("items"), f"{path}.items")
    elif kind == "configMap":
        if not src.get("name"):
            errs.append(required(f"{path}.name"))
        else:
            errs += validate_dns_subdomain(src["name"], f"{path}.name")
        errs += _validate_mode(src.get("defaultMode"), f"{path}.defaultMode")
        errs += validate_key_to_paths(src.get("items"), f"{path}.items")
    elif kind == "persistentVolumeClaim":
        if not src.get("claimName"):
            errs.append(required(f"{path}.claimName"))
    elif kind == "nfs":
        if not src.get("server"):
            errs.append(required(f"{path}.server"))
        p = src.get("path")
        if not p:
            errs.append(required(f"{path}.path"))
        elif not str(p).startswith("/"):
            errs.append(invalid(f"{path}.path", p, "must be an absolute path"))
    elif kind in ("csi",):
        if not src.get("driver"):
            errs.append(required(f"{path}.driver"))
    elif kind == "local":
        if not src.get("path"):
            errs.append(required(f"{path}.path"))
    elif kind == "ephemeral":
        if not isinstance(src.get("volumeClaimTemplate"), dict):
            errs.append(required(f"{path}.volumeClaimTemplate"))
    elif kind == "downwardAPI":
        errs += _validate_mode(src.get("defaultMode"), f"{path}.defaultMode")
        for i, item in enumerate(as_list(src.get("items"))):
            errs += _validate_downward_item(as_dict(item), f"{path}.items[{i}]")
    elif kind == "projected":
        errs += _validate_mode(src.get("defaultMode"), f"{path}.defaultMode")
        for i, s in enumerate(as_list(src.get("sources"))):
            sp = f"{path}.sources[{i}]"
            s = as_dict(s)
            kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken",
                                 "clusterTrustBundle") if s.get(k) is not None]
            if len(kinds) > 1:
                errs.append(forbidden(f"{sp}.{kinds[1]}", "may not specify more than 1 volume type per source"))
            sat = s.get("serviceAccountToken")
            if isinstance(sat, dict):
                exp = sat.get("expirationSeconds")
                if is_int(exp) and exp < 600:
                    errs.append(invalid(f"{sp}.serviceAccountToken.expirationSeconds", exp,
                                        "may not specify a duration less than 10 minutes"))
                if not sat.get("path"):
                    errs.append(required(f"{sp}.serviceAccountToken.path"))
    elif kind == "image":
        if not src.get("reference"):
            errs.append(required(f"{path}.reference"))
    return errs


def _validate_mode(mode: Any, path: str) -> list[FieldError]:
    if mode is None:
        return []
    if not is_int(mode) or not 0 <= mode <= 0o777:
        return [invalid(path, mode, "must be a number between 0 and 0777 (octal), both inclusive")]
    return []


def validate_relative_path(p: Any, path: str) -> list[FieldError]:
    if not isinstance(p, str):
        return [invalid(path, p, "must be a string")]
    errs = []
    if p.startswith("/"):
        errs.append(invalid(path, p, "must be a relative path"))
    if ".." in p.split("/"):
        errs.append(invalid(path, p, "must not contain '..'"))
    return errs


def validate_key_to_paths(items: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(as_list(items)):
        ip = f"{path}[{i}]"
        item = as_dict(item)
        key = item.get("key")
        if not key:
            errs.append(required(f"{ip}.key"))
        elif isinstance(key, str):
            errs += [invalid(f"{ip}.key", key, m) for m in config_key_errors(key)]
        if not item.get("path"):
            errs.append(required(f"{ip}.path"))
        else:
            errs += validate_relative_path(item["path"], f"{ip}.path")
        errs += _validate_mode(item.get("mode"), f"{ip}.mode")
    return errs


def _validate_downward_item(item: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not item.get("path"):
        errs.append(required(f"{path}.path"))
    else:
        errs += validate_relative_path(item["path"], f"{path}.path")
    refs = [k for k in ("fieldRef", "resourceFieldRef") if item.get(k) is not None]
    if len(refs) > 1:
        errs.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif not refs:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    errs += _validate_mode(item.get("mode"), f"{path}.mode")
    return errs
