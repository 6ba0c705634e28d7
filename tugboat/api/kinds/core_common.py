"""Small validators shared by the core/v1 kinds (and usable by the workload kinds).

These are the leaf rules of upstream's `pkg/apis/core/validation`: port numbers and IANA
service names, environment variable names, ConfigMap/Secret keys, non-negative integers,
resource names and quantities. They return upstream's messages because kubectl users and
tests match on that text.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from ..errors import FieldError, invalid, required
from ..quantity import Quantity, quantity
from ..validation import is_dns1123_label, is_dns1123_subdomain, is_qualified_name

Obj = dict[str, Any]

_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_HAS_LETTER = re.compile(r"[a-z]")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT32_MAX = 2**31 - 1


def not_found(path: str, value: Any) -> FieldError:
    """upstream field.NotFound."""
    from ..errors import _show

    return FieldError("FieldValueNotFound", path, f"{path}: Not found: {_show(value)}")


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def as_dict(v: Any) -> Obj:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def port_num_errors(port: Any) -> list[str]:
    if not is_int(port) or not 1 <= port <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def port_name_errors(name: str) -> list[str]:
    """upstream IsValidPortName (IANA_SVC_NAME)."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _HAS_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def validate_port_num_or_name(port: Any, path: str) -> list[FieldError]:
    """An int-or-string port (probes, targetPort): 1–65535 or an IANA service name."""
    if is_int(port):
        return [invalid(path, port, m) for m in port_num_errors(port)]
    if isinstance(port, str):
        if not port:
            return [required(path)]
        return [invalid(path, port, m) for m in port_name_errors(port)]
    return [invalid(path, port, "must contain an int or string")]


def env_var_name_errors(name: str) -> list[str]:
    """1.32 default (RelaxedEnvironmentVariableValidation on): printable ASCII except '='."""
    if all(32 <= ord(c) <= 126 and c != "=" for c in name):
        return []
    return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]


def config_key_errors(key: str) -> list[str]:
    """upstream IsConfigMapKey: keys of ConfigMap/Secret data and projected items."""
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _CONFIG_KEY.match(key):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                    "'[-._a-zA-Z0-9]+')")
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def c_identifier_errors(value: str) -> list[str]:
    if _C_IDENTIFIER.match(value):
        return []
    return ["a valid C identifier must start with alphabetic character or '_', followed by a string of "
            "alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for "
            "validation is '[A-Za-z_][A-Za-z0-9_]*')"]


def validate_nonnegative(value: Any, path: str) -> list[FieldError]:
    if value is None:
        return []
    if not is_int(value):
        return [invalid(path, value, "must be an integer")]
    if value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def validate_positive(value: Any, path: str) -> list[FieldError]:
    if value is None:
        return []
    if not is_int(value) or value <= 0:
        return [invalid(path, value, "must be greater than zero")]
    return []


def validate_dns_label(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, str):
        return [invalid(path, value, "must be a string")]
    return [invalid(path, value, m) for m in is_dns1123_label(value)]


def validate_dns_subdomain(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, str):
        return [invalid(path, value, "must be a string")]
    return [invalid(path, value, m) for m in is_dns1123_subdomain(value)]


def validate_enum(value: Any, path: str, allowed: list[str], allow_empty: bool = False) -> list[FieldError]:
    """Required + NotSupported, the common shape for enum-valued fields."""
    from ..errors import not_supported

    if value is None or value == "":
        return [] if allow_empty else [required(path)]
    if value not in allowed:
        return [not_supported(path, value, allowed)]
    return []


# ---- resources ----------------------------------------------------------------------------

STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_HUGEPAGES = "hugepages-"


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepages(name: str) -> bool:
    return name.startswith(_HUGEPAGES)


def is_extended_resource(name: str) -> bool:
    """Extended resources (`example.com/gpu`): integer-valued and never overcommitted."""
    return not is_native_resource(name) and not name.startswith("requests.")


def parse_resource_quantity(value: Any, path: str, errs: list[FieldError]) -> Quantity | None:
    try:
        return quantity(value)
    except ValueError as e:
        errs.append(invalid(path, value, str(e)))
        return None


def validate_resource_name(name: Any, path: str) -> list[FieldError]:
    if not isinstance(name, str) or not name:
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    errs = [invalid(path, name, m) for m in is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name and name not in STANDARD_CONTAINER_RESOURCES and not is_hugepages(name):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def validate_resource_list(rl: Any, path: str, container: bool = True) -> tuple[dict[str, Quantity], list[FieldError]]:
    """A ResourceList: names valid, values parse as quantities ≥ 0, integer where required."""
    errs: list[FieldError] = []
    out: dict[str, Quantity] = {}
    if rl is None:
        return out, errs
    if not isinstance(rl, dict):
        return out, [invalid(path, rl, "must be an object")]
    for name, raw in rl.items():
        p = f"{path}[{name}]"
        if container:
            errs += validate_resource_name(name, p)
        q = parse_resource_quantity(raw, p, errs)
        if q is None:
            continue
        if q.sign() < 0:
            errs.append(invalid(p, q.canonical(), "must be greater than or equal to 0"))
        elif is_extended_resource(name) and q.amount != q.amount.to_integral_value():
            errs.append(invalid(p, q.canonical(), "must be an integer"))
        out[name] = q
    return out, errs


def validate_resource_requirements(res: Any, path: str) -> list[FieldError]:
    """Container resources: valid lists; each request ≤ its limit; extended resources need a
    limit and a request equal to it (they are never overcommitted)."""
    if res is None:
        return []
    if not isinstance(res, dict):
        return [invalid(path, res, "must be an object")]
    limits, errs = validate_resource_list(res.get("limits"), f"{path}.limits")
    requests, rerrs = validate_resource_list(res.get("requests"), f"{path}.requests")
    errs += rerrs
    for name, req in requests.items():
        p = f"{path}.requests[{name}]"
        lim = limits.get(name)
        if lim is not None:
            if is_extended_resource(name) or is_hugepages(name):
                if req != lim:
                    errs.append(invalid(p, req.canonical(), f"must be equal to {name} limit of {lim.canonical()}"))
            elif req > lim:
                errs.append(invalid(p, req.canonical(),
                                    f"must be less than or equal to {name} limit of {lim.canonical()}"))
        elif is_extended_resource(name):
            errs.append(forbidden_limit(f"{path}.limits", name))
    return errs


def forbidden_limit(path: str, name: str) -> FieldError:
    return required(path, "Limit must be set for non overcommitable resources")
