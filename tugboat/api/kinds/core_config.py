"""ConfigMap, Secret and ServiceAccount strategies.

Keys become file names in volumes and variable names in `envFrom`, hence the config-key rule;
the 1 MiB cap keeps one object from filling the store and every watch cache. `immutable: true`
lets nodes stop watching the object, so once set the content can never change again.
Secrets typed `kubernetes.io/*` promise consumers particular keys, so those keys are checked.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from ..errors import FieldError, forbidden, invalid, required, too_long
from ..strategy import Obj, Strategy, register
from .core_common import as_dict, as_list, config_key_errors, validate_dns_subdomain

MAX_SIZE = 1024 * 1024
IMMUTABLE_MSG = "field is immutable when `immutable` is set"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"


def _validate_keys(data: Any, path: str) -> list[FieldError]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return [invalid(path, data, "must be an object")]
    errs: list[FieldError] = []
    for k in data:
        errs += [invalid(path, k, m) for m in config_key_errors(k)]
    return errs


def _immutable_update(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[FieldError]:
    if old.get("immutable") is not True:
        return []
    errs = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", IMMUTABLE_MSG))
    for f in fields:
        if (new.get(f) or {}) != (old.get(f) or {}):
            errs.append(forbidden(f, IMMUTABLE_MSG))
    return errs


class ConfigMapStrategy(Strategy):
    kind = "ConfigMap"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        data, binary = obj.get("data"), obj.get("binaryData")
        errs += _validate_keys(data, "data")
        errs += _validate_keys(binary, "binaryData")
        total = 0
        for k, v in as_dict(data).items():
            if not isinstance(v, str):
                errs.append(invalid(f"data[{k}]", v, "must be a string"))
                continue
            total += len(v.encode())
        for k, v in as_dict(binary).items():
            if k in as_dict(data):
                errs.append(invalid("binaryData", k, "duplicate of key present in data"))
            decoded = _b64(v)
            if decoded is None:
                errs.append(invalid(f"binaryData[{k}]", "<binary>", "must be base64-encoded bytes"))
            else:
                total += len(decoded)
        if total > MAX_SIZE:
            errs.append(too_long("", MAX_SIZE))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return super().validate_update(new, old) + _immutable_update(new, old, ("data", "binaryData"))


def _b64(v: Any) -> bytes | None:
    if not isinstance(v, str):
        return None
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return None


class SecretStrategy(Strategy):
    kind = "Secret"
    selectable_fields = ("type",)

    def default(self, obj: Obj) -> None:
        if not obj.get("type"):
            obj["type"] = "Opaque"
        # core/v1 folds write-only stringData into data (stringData wins) before storing.
        sd = obj.pop("stringData", None)
        if isinstance(sd, dict) and sd:
            data = obj.get("data")
            if not isinstance(data, dict):
                data = obj["data"] = {}
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        data = obj.get("data")
        errs += _validate_keys(data, "data")
        decoded: dict[str, bytes] = {}
        total = 0
        for k, v in as_dict(data).items():
            raw = _b64(v)
            if raw is None:
                errs.append(invalid(f"data[{k}]", "<secret contents redacted>", "must be base64-encoded bytes"))
                continue
            decoded[k] = raw
            total += len(raw)
        if total > MAX_SIZE:
            errs.append(too_long("data", MAX_SIZE))
        errs += _validate_type(obj, as_dict(data), decoded)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        if (new.get("type") or "Opaque") != (old.get("type") or "Opaque"):
            errs.append(invalid("type", new.get("type"), "field is immutable"))
        return errs + _immutable_update(new, old, ("data",))


def _validate_type(obj: Obj, data: Obj, decoded: dict[str, bytes]) -> list[FieldError]:
    t = obj.get("type")
    errs: list[FieldError] = []
    if t == "kubernetes.io/service-account-token":
        ann = as_dict(as_dict(obj.get("metadata")).get("annotations"))
        if not ann.get(SA_NAME_ANNOTATION):
            errs.append(required(f"metadata.annotations[{SA_NAME_ANNOTATION}]"))
    elif t in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if t == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        elif key in decoded:
            try:
                orjson.loads(decoded[key])
            except orjson.JSONDecodeError as e:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", str(e)))
    elif t == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [required("data[username]"), required("data[password]")]
    elif t == "kubernetes.io/ssh-auth":
        if "ssh-privatekey" not in data:
            errs.append(required("data[ssh-privatekey]"))
    elif t == "kubernetes.io/tls":
        for key in ("tls.key", "tls.crt"):
            if key not in data:
                errs.append(required(f"data[{key}]"))
    return errs


class ServiceAccountStrategy(Strategy):
    kind = "ServiceAccount"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        for field in ("secrets", "imagePullSecrets"):
            for i, ref in enumerate(as_list(obj.get(field))):
                name = as_dict(ref).get("name")
                if name:
                    errs += validate_dns_subdomain(name, f"{field}[{i}].name")
        return errs


register(ConfigMapStrategy())
register(SecretStrategy())
register(ServiceAccountStrategy())
