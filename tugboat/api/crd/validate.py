"""Validation of a custom object against its version's structural OpenAPI v3 schema.

Mirrors what the apiextensions-apiserver (via kube-openapi) reports, with its wording
(`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
"string"`), because operators and kubectl users match on those texts.

TODO(cel): `x-kubernetes-validations` (CEL rules) are NOT evaluated. Objects are accepted as if
every rule passed; implementing CEL needs a CEL interpreter and is out of scope for now.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from ..errors import FieldError, invalid, not_supported, required, too_long, type_invalid

Schema = dict[str, Any]


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def go_type(value: Any) -> str:
    """The JSON type name kube-openapi reports for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
    if typ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w))+$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")


def _ok_ip(kind: type) -> Callable[[str], bool]:
    def check(s: str) -> bool:
        try:
            return isinstance(ipaddress.ip_address(s), kind)
        except ValueError:
            return False
    return check


def _ok_cidr(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
        return "/" in s
    except ValueError:
        return False


def _ok_uuid(version: int | None) -> Callable[[str], bool]:
    def check(s: str) -> bool:
        try:
            u = uuid.UUID(s)
        except ValueError:
            return False
        return version is None or u.version == version
    return check


def _ok_datetime(s: str) -> bool:
    if not _DATETIME.match(s):
        return False
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
        return True
    except ValueError:
        return False


def _ok_date(s: str) -> bool:
    try:
        return bool(_DATE.match(s)) and bool(datetime.strptime(s, "%Y-%m-%d"))
    except ValueError:
        return False


def _ok_byte(s: str) -> bool:
    try:
        base64.b64decode(s, validate=True)
        return True
    except ValueError:
        return False


# String formats kube-openapi's registry knows; unknown formats (and numeric ones) are ignored.
FORMATS: dict[str, Callable[[str], bool]] = {
    "date": _ok_date, "date-time": _ok_datetime, "datetime": _ok_datetime,
    "duration": lambda s: bool(_DURATION.match(s)), "hostname": lambda s: bool(_HOSTNAME.match(s)),
    "email": lambda s: bool(_EMAIL.match(s)), "mac": lambda s: bool(_MAC.match(s)),
    "uri": lambda s: bool(_URI.match(s)), "ipv4": _ok_ip(ipaddress.IPv4Address),
    "ipv6": _ok_ip(ipaddress.IPv6Address), "cidr": _ok_cidr, "uuid": _ok_uuid(None),
    "uuid3": _ok_uuid(3), "uuid4": _ok_uuid(4), "uuid5": _ok_uuid(5), "byte": _ok_byte,
}


def too_many(path: str, actual: int, limit: int, what: str = "items") -> FieldError:
    return FieldError("FieldValueTooMany", path, f"{path}: Too many: {actual}: must have at most {limit} {what}")


def _num(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _canon(v: Any) -> bytes:
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)


def validate(obj: Any, schema: Schema | None, path: str = "") -> list[FieldError]:
    """All schema violations of `obj` (a whole custom object when `path` is "")."""
    errs: list[FieldError] = []
    if schema:
        _node(obj, schema, path, errs)
    return errs


def _node(v: Any, s: Schema, path: str, errs: list[FieldError]) -> None:
    p = path or "<root>"
    if v is None:
        if s.get("nullable") or s.get("x-kubernetes-preserve-unknown-fields") and not s.get("type"):
            return
        if s.get("type") or s.get("x-kubernetes-int-or-string"):
            typ = s.get("type") or "integer,string"
            errs.append(type_invalid(p, "null", f'{p} in body must be of type {typ}: "null"'))
        return
    if s.get("x-kubernetes-int-or-string"):
        if not (isinstance(v, str) or _type_ok(v, "integer")):
            errs.append(type_invalid(p, go_type(v), f'{p} in body must be of type integer,string: "{go_type(v)}"'))
            return
    elif s.get("type") and not _type_ok(v, s["type"]):
        errs.append(type_invalid(p, go_type(v), f'{p} in body must be of type {s["type"]}: "{go_type(v)}"'))
        return
    if "enum" in s and isinstance(s["enum"], list):
        if _canon(v) not in {_canon(e) for e in s["enum"]}:
            errs.append(not_supported(p, v, [e if isinstance(e, str) else orjson.dumps(e).decode() for e in s["enum"]]))
    if isinstance(v, str):
        _string(v, s, p, errs)
    elif isinstance(v, int | float) and not isinstance(v, bool):
        _number(v, s, p, errs)
    elif isinstance(v, list):
        _array(v, s, path, errs)
    elif isinstance(v, dict):
        _object(v, s, path, errs)
    _combinators(v, s, path, errs)


def _string(v: str, s: Schema, p: str, errs: list[FieldError]) -> None:
    if "maxLength" in s and len(v) > s["maxLength"]:
        errs.append(too_long(p, s["maxLength"]))
    if "minLength" in s and len(v) < s["minLength"]:
        errs.append(invalid(p, v, f"{p} in body should be at least {s['minLength']} chars long"))
    if "pattern" in s and not re.search(s["pattern"], v):
        errs.append(invalid(p, v, f"{p} in body should match '{s['pattern']}'"))
    check = FORMATS.get(s.get("format", ""))
    if check is not None and not check(v):
        errs.append(type_invalid(p, v, f'{p} in body must be of type {s["format"]}: "{v}"'))


def _number(v: float, s: Schema, p: str, errs: list[FieldError]) -> None:
    if "minimum" in s:
        lo = s["minimum"]
        if s.get("exclusiveMinimum") and v <= lo:
            errs.append(invalid(p, v, f"{p} in body should be greater than {_num(lo)}"))
        elif v < lo:
            errs.append(invalid(p, v, f"{p} in body should be greater than or equal to {_num(lo)}"))
    if "maximum" in s:
        hi = s["maximum"]
        if s.get("exclusiveMaximum") and v >= hi:
            errs.append(invalid(p, v, f"{p} in body should be less than {_num(hi)}"))
        elif v > hi:
            errs.append(invalid(p, v, f"{p} in body should be less than or equal to {_num(hi)}"))
    m = s.get("multipleOf")
    if m and (v / m) != int(v / m):
        errs.append(invalid(p, v, f"{p} in body should be a multiple of {_num(m)}"))


def _array(v: list[Any], s: Schema, path: str, errs: list[FieldError]) -> None:
    p = path or "<root>"
    if "maxItems" in s and len(v) > s["maxItems"]:
        errs.append(too_many(p, len(v), s["maxItems"]))
    if "minItems" in s and len(v) < s["minItems"]:
        errs.append(invalid(p, v, f"{p} in body should have at least {s['minItems']} items"))
    if s.get("uniqueItems"):
        seen: set[bytes] = set()
        for item in v:
            c = _canon(item)
            if c in seen:
                errs.append(invalid(p, v, f"{p} in body shouldn't contain duplicates"))
                break
            seen.add(c)
    items = s.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(v):
            _node(item, items, f"{path}[{i}]", errs)


def _object(v: dict[str, Any], s: Schema, path: str, errs: list[FieldError]) -> None:
    p = path or "<root>"
    for r in s.get("required") or []:
        if r not in v:
            errs.append(required(child(path, r)))
    if "maxProperties" in s and len(v) > s["maxProperties"]:
        errs.append(too_many(p, len(v), s["maxProperties"], "properties"))
    if "minProperties" in s and len(v) < s["minProperties"]:
        errs.append(invalid(p, v, f"{p} in body should have at least {s['minProperties']} properties"))
    props = s.get("properties") or {}
    extra = s.get("additionalProperties")
    for k, val in v.items():
        if k in props:
            _node(val, props[k], child(path, k), errs)
        elif isinstance(extra, dict):
            _node(val, extra, child(path, k), errs)


def _combinators(v: Any, s: Schema, path: str, errs: list[FieldError]) -> None:
    p = path or "<root>"
    for sub in s.get("allOf") or []:
        _node(v, sub, path, errs)
    if s.get("anyOf"):
        if not any(not validate(v, sub, path) for sub in s["anyOf"]):
            errs.append(invalid(p, v, f"{p} in body must validate at least one schema (anyOf)"))
    if s.get("oneOf"):
        if sum(1 for sub in s["oneOf"] if not validate(v, sub, path)) != 1:
            errs.append(invalid(p, v, f"{p} in body must validate one and only one schema (oneOf)"))
    if isinstance(s.get("not"), dict) and not validate(v, s["not"], path):
        errs.append(invalid(p, v, f"{p} in body must not validate the schema (not)"))
