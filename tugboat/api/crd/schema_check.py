"""Basic structural-schema checks of a CRD's versions (a short subset of upstream's rules).

A schema that is not structural makes pruning and defaulting ambiguous, so upstream rejects
it at CRD create/update. We check the rules users trip over: a schema per version, `type` at
every level, no `$ref`, `items` for arrays, `properties` xor `additionalProperties`, object at
the root, and only name/generateName constraints on root metadata.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported, required

TYPES = ["array", "boolean", "integer", "number", "object", "string"]


def validate_crd_schema(crd: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, v in enumerate((crd.get("spec") or {}).get("versions") or []):
        base = f"spec.versions[{i}].schema.openAPIV3Schema"
        s = ((v or {}).get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(s, dict):
            errs.append(required(base, "schemas are required"))
            continue
        if s.get("type") != "object":
            errs.append(invalid(f"{base}.type", s.get("type", ""), "must be object at the root"))
        meta = (s.get("properties") or {}).get("metadata")
        if isinstance(meta, dict):
            extra = set((meta.get("properties") or {}).keys()) - {"name", "generateName"}
            if extra or set(meta) - {"type", "properties", "description"}:
                errs.append(forbidden(f"{base}.properties[metadata]",
                                      "must not specify anything other than name and generateName, but metadata "
                                      "is implicitly specified"))
        _check(s, base, errs, "")
    return errs


def _check(s: dict[str, Any], path: str, errs: list[FieldError], what: str) -> None:
    if "$ref" in s:
        errs.append(forbidden(f"{path}.$ref", "$ref is not supported"))
    typ = s.get("type")
    loose = s.get("x-kubernetes-int-or-string") or s.get("x-kubernetes-preserve-unknown-fields")
    if not typ and what and not loose:
        errs.append(required(f"{path}.type", f"must not be empty for specified {what}"))
    elif typ and typ not in TYPES:
        errs.append(not_supported(f"{path}.type", typ, TYPES))
    if typ == "array" and not isinstance(s.get("items"), dict):
        errs.append(required(f"{path}.items", "must be specified"))
    if s.get("properties") and s.get("additionalProperties") not in (None, False):
        errs.append(forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive"))
    for name, sub in (s.get("properties") or {}).items():
        if isinstance(sub, dict):
            _check(sub, f"{path}.properties[{name}]", errs, "object fields")
    if isinstance(s.get("items"), dict):
        _check(s["items"], f"{path}.items", errs, "array items")
    if isinstance(s.get("additionalProperties"), dict):
        _check(s["additionalProperties"], f"{path}.additionalProperties", errs, "additionalProperties")
