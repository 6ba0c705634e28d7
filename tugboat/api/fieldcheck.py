"""Unknown and duplicate field detection for `fieldValidation` (Strict / Warn / Ignore).

Upstream decodes request bodies into Go structs, so a field the kind does not declare is
dropped; with `fieldValidation=Strict` (what kubectl sends by default) that is a 400, with
`Warn` (the server default) a `Warning: 299` header per field. We keep objects as dicts, so
we find the same fields by walking the kind's OpenAPI schema: declared properties recurse,
maps (`additionalProperties`) check their values, `x-kubernetes-preserve-unknown-fields`
and schema-less objects (RawExtension, FieldsV1) accept anything. Paths are written the way
upstream's decoder writes them: `spec.template.spec.containers[0].imagePullPolicyy`.

Duplicate keys cannot be seen after orjson has parsed a body (the last one wins), so
`duplicate_fields` first compares the number of keys in the raw text with the parsed
object's — a cheap check that is exact — and only re-parses the rare mismatching body.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tugboat.api import schema as S
from tugboat.api.errors import ApiError, FieldError

Schema = dict[str, Any]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_MAX_DEPTH = 64


def _resolve(node: Schema | None) -> Schema | None:
    """Follow `$ref` / single-`allOf` to the definition (CRD schemas have neither).

    Unlike `schema.resolve` this does not merge the referring node's extensions (no copy per
    step, which matters on every write); the flags the walk needs are read by `_walk` from
    the referring node before resolving."""
    seen = 0
    while node is not None and seen < 16:
        ref = node.get("$ref")
        if ref is None:
            all_of = node.get("allOf")
            if not all_of or len(all_of) != 1:
                return node
            ref = all_of[0].get("$ref")
            if ref is None:
                return node
        node = S.definitions().get(ref.rsplit("/", 1)[-1])
        seen += 1
    return node


def _object_meta() -> Schema | None:
    return S.definitions().get(OBJECT_META)


def _walk(value: Any, node: Schema | None, path: str, out: list[str], depth: int, embedded: bool) -> None:
    if node is None or depth > _MAX_DEPTH or value is None:
        return
    if "$ref" in node or "allOf" in node:
        if node.get("x-kubernetes-preserve-unknown-fields") is True:
            return
        node = _resolve(node)
        if node is None:
            return
    if node.get("x-kubernetes-preserve-unknown-fields") is True and not node.get("properties"):
        return
    if isinstance(value, dict):
        props = node.get("properties")
        addl = node.get("additionalProperties")
        is_embedded = embedded or node.get("x-kubernetes-embedded-resource") is True
        if not props:
            if isinstance(addl, dict):
                for k, v in value.items():
                    _walk(v, addl, f"{path}.{k}" if path else k, out, depth + 1, False)
            return  # schema-less object (RawExtension, FieldsV1, Patch, type: object): anything goes
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        for k, v in value.items():
            child = f"{path}.{k}" if path else k
            sub = props.get(k)
            if sub is None and is_embedded and k in ("apiVersion", "kind", "metadata"):
                if k == "metadata":
                    _walk(v, _object_meta(), child, out, depth + 1, False)
                continue
            if sub is None:
                if isinstance(addl, dict):
                    _walk(v, addl, child, out, depth + 1, False)
                elif not preserve and addl is not True:
                    out.append(child)
                continue
            _walk(v, sub, child, out, depth + 1, False)
    elif isinstance(value, list):
        items = node.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                _walk(v, items, f"{path}[{i}]", out, depth + 1, False)


def unknown_fields(obj: dict[str, Any], schema: Schema | None, custom: bool = False) -> list[str]:
    """Paths of fields in `obj` that `schema` (the kind's root schema) does not declare.

    `custom=True` treats `schema` as a CRD's openAPIV3Schema: `apiVersion`, `kind` and
    `metadata` (checked against ObjectMeta) are implied at the root, as the CRD handler does.
    Values of the wrong type are not reported here (validation reports them).
    """
    if schema is None or not isinstance(obj, dict):
        return []
    out: list[str] = []
    _walk(obj, schema, "", out, 0, custom)
    return out


# --- duplicates ------------------------------------------------------------------------------

# Every JSON string token, and whether a colon follows it (i.e. it is an object key). Quotes
# only ever occur inside strings, so scanning string tokens left to right is exact.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?', re.DOTALL)


def _count_raw_keys(raw: bytes) -> int:
    return sum(map(bool, _STRING.findall(raw)))


def _count_keys(v: Any) -> int:
    if isinstance(v, dict):
        return len(v) + sum(_count_keys(x) for x in v.values() if isinstance(x, dict | list))
    if isinstance(v, list):
        return sum(_count_keys(x) for x in v if isinstance(x, dict | list))
    return 0


class _Pairs(list[tuple[str, Any]]):
    """An object kept as its key/value pairs in document order."""


def _report(v: Any, path: str, out: list[str]) -> None:
    if isinstance(v, _Pairs):
        seen: set[str] = set()
        for k, x in v:
            child = f"{path}.{k}" if path else k
            if k in seen:
                out.append(child)
            seen.add(k)
            _report(x, child, out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _report(x, f"{path}[{i}]", out)


def duplicate_fields(raw_json: bytes, parsed: Any = None) -> list[str]:
    """Paths of keys that appear more than once in the same JSON object of `raw_json`.

    Pass `parsed` (the orjson result of the same bytes) to skip the second parse in the common
    case of no duplicates. Invalid JSON yields [] (the decoder reports that error).
    """
    if parsed is not None and _count_raw_keys(raw_json) == _count_keys(parsed):
        return []
    try:
        tree = json.loads(raw_json, object_pairs_hook=_Pairs)
    except ValueError:
        return []
    out: list[str] = []
    _report(tree, "", out)
    return out


# --- messages --------------------------------------------------------------------------------


def field_errors(unknown: list[str], duplicates: list[str]) -> list[str]:
    """The individual strict-decoding errors, upstream wording (also the Warn warnings)."""
    return [f'duplicate field "{p}"' for p in duplicates] + [f'unknown field "{p}"' for p in unknown]


def strict_decoding_error(errors: list[str]) -> str:
    """`strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`."""
    return "strict decoding error: " + ", ".join(errors)


def strict_message(kind: str, version: str, errors: list[str]) -> str:
    """Message of the 400 BadRequest for a Strict create/update (POST/PUT) body."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {strict_decoding_error(errors)}'


def warnings(errors: list[str]) -> list[str]:
    """Warning texts for Warn (each becomes `Warning: 299 - "<text>"`)."""
    return list(errors)


def strict_error(kind: str, version: str, errors: list[str]) -> ApiError:
    """400 BadRequest for a Strict POST/PUT body (upstream `transformDecodeError`)."""
    return ApiError(400, "BadRequest", strict_message(kind, version, errors))


def strict_patch_error(patched_json: str, errors: list[str]) -> ApiError:
    """422 Invalid for a Strict JSON/merge/strategic-merge PATCH: upstream reports the strict
    errors as an invalid `patch` field of an unnamed, kindless object (`handlers/patch.go`)."""
    value = '"' + patched_json.replace("\\", "\\\\").replace('"', '\\"') + '"'
    detail = strict_decoding_error(errors)
    cause = FieldError("FieldValueInvalid", "patch", f"Invalid value: {value}: {detail}")
    return ApiError(422, "Invalid", f' "" is invalid: patch: Invalid value: {value}: {detail}', {}, [cause])
