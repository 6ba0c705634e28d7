"""Protobuf wire encoding of an OpenAPI v2 (Swagger 2.0) document as gnostic's `openapi.v2.Document`.

kubectl fetches `/openapi/v2` only as protobuf (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`)
and falls back to it for client-side schema validation (e.g. of `kind: List` manifests). Only a
small part of the message tree matters to it — definitions (NamedSchema → Schema with type,
properties, items, $ref, additionalProperties, required, description, vendor extensions) — so we
hand-write that subset of the wire format instead of depending on a protobuf runtime. Field
numbers are gnostic's `openapiv2/OpenAPIv2.proto` (google/gnostic-models). Vendor extension
values are carried as YAML in `Any.yaml`; we write JSON, which every YAML parser reads.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

# Document
DOC_SWAGGER, DOC_INFO, DOC_PATHS, DOC_DEFINITIONS = 1, 2, 8, 9
INFO_TITLE, INFO_VERSION = 1, 2
PATHS_PATH = 2
DEFINITIONS_ADDITIONAL_PROPERTIES = 1  # repeated NamedSchema (also Properties.additional_properties)
NAMED_NAME, NAMED_VALUE = 1, 2  # NamedSchema / NamedAny / NamedPathItem
ANY_YAML = 2
# Schema
S_REF, S_FORMAT, S_TITLE, S_DESCRIPTION, S_DEFAULT = 1, 2, 3, 4, 5
S_MULTIPLE_OF, S_MAXIMUM, S_EXCL_MAX, S_MINIMUM, S_EXCL_MIN = 6, 7, 8, 9, 10
S_MAX_LENGTH, S_MIN_LENGTH, S_PATTERN, S_MAX_ITEMS, S_MIN_ITEMS, S_UNIQUE_ITEMS = 11, 12, 13, 14, 15, 16
S_MAX_PROPERTIES, S_MIN_PROPERTIES, S_REQUIRED, S_ENUM = 17, 18, 19, 20
S_ADDITIONAL_PROPERTIES, S_TYPE, S_ITEMS, S_ALL_OF, S_PROPERTIES = 21, 22, 23, 24, 25
S_READ_ONLY, S_EXAMPLE, S_VENDOR_EXTENSION = 27, 30, 31
AP_SCHEMA, AP_BOOLEAN = 1, 2  # AdditionalPropertiesItem oneof
TYPE_VALUE = 1  # TypeItem.value (repeated string)
ITEMS_SCHEMA = 1  # ItemsItem.schema (repeated Schema)

_VARINT, _I64, _LEN = 0, 1, 2

_STRINGS = {"$ref": S_REF, "format": S_FORMAT, "title": S_TITLE, "description": S_DESCRIPTION,
            "pattern": S_PATTERN}
_DOUBLES = {"multipleOf": S_MULTIPLE_OF, "maximum": S_MAXIMUM, "minimum": S_MINIMUM}
_INTS = {"maxLength": S_MAX_LENGTH, "minLength": S_MIN_LENGTH, "maxItems": S_MAX_ITEMS, "minItems": S_MIN_ITEMS,
         "maxProperties": S_MAX_PROPERTIES, "minProperties": S_MIN_PROPERTIES}
_BOOLS = {"exclusiveMaximum": S_EXCL_MAX, "exclusiveMinimum": S_EXCL_MIN, "uniqueItems": S_UNIQUE_ITEMS,
          "readOnly": S_READ_ONLY}


def varint(n: int) -> bytes:
    """Base-128 varint; negative int64s are sent as their 10-byte two's complement."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def length_delimited(field: int, payload: bytes) -> bytes:
    return _key(field, _LEN) + varint(len(payload)) + payload


def string(field: int, value: str) -> bytes:
    return length_delimited(field, value.encode())


def int_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + varint(value)


def double(field: int, value: float) -> bytes:
    return _key(field, _I64) + struct.pack("<d", float(value))


def _any_yaml(value: Any) -> bytes:
    return string(ANY_YAML, orjson.dumps(value).decode())


def _named(field: int, name: str, value: bytes) -> bytes:
    return length_delimited(field, string(NAMED_NAME, name) + length_delimited(NAMED_VALUE, value))


def encode_schema(s: Mapping[str, Any]) -> bytes:
    """One Swagger 2.0 schema object → `openapi.v2.Schema` bytes (fields in ascending order)."""
    parts: list[tuple[int, bytes]] = []
    for k, v in s.items():
        if k in _STRINGS and isinstance(v, str):
            parts.append((_STRINGS[k], string(_STRINGS[k], v)))
        elif k in _DOUBLES and isinstance(v, int | float) and not isinstance(v, bool):
            parts.append((_DOUBLES[k], double(_DOUBLES[k], v)))
        elif k in _INTS and isinstance(v, int):
            parts.append((_INTS[k], int_field(_INTS[k], v)))
        elif k in _BOOLS and isinstance(v, bool):
            if v:
                parts.append((_BOOLS[k], int_field(_BOOLS[k], 1)))
        elif k == "default":
            parts.append((S_DEFAULT, length_delimited(S_DEFAULT, _any_yaml(v))))
        elif k == "example":
            parts.append((S_EXAMPLE, length_delimited(S_EXAMPLE, _any_yaml(v))))
        elif k == "required" and isinstance(v, list):
            parts.extend((S_REQUIRED, string(S_REQUIRED, r)) for r in v)
        elif k == "enum" and isinstance(v, list):
            parts.extend((S_ENUM, length_delimited(S_ENUM, _any_yaml(e))) for e in v)
        elif k == "additionalProperties":
            inner = (int_field(AP_BOOLEAN, 1 if v else 0) if isinstance(v, bool)
                     else length_delimited(AP_SCHEMA, encode_schema(v)))
            parts.append((S_ADDITIONAL_PROPERTIES, length_delimited(S_ADDITIONAL_PROPERTIES, inner)))
        elif k == "type":
            types = v if isinstance(v, list) else [v]
            parts.append((S_TYPE, length_delimited(S_TYPE, b"".join(string(TYPE_VALUE, t) for t in types))))
        elif k == "items":
            subs = v if isinstance(v, list) else [v]
            body = b"".join(length_delimited(ITEMS_SCHEMA, encode_schema(x)) for x in subs)
            parts.append((S_ITEMS, length_delimited(S_ITEMS, body)))
        elif k == "allOf" and isinstance(v, list):
            parts.extend((S_ALL_OF, length_delimited(S_ALL_OF, encode_schema(x))) for x in v)
        elif k == "properties" and isinstance(v, dict):
            body = b"".join(_named(DEFINITIONS_ADDITIONAL_PROPERTIES, n, encode_schema(p)) for n, p in v.items())
            parts.append((S_PROPERTIES, length_delimited(S_PROPERTIES, body)))
        elif k.startswith("x-"):
            parts.append((S_VENDOR_EXTENSION, _named(S_VENDOR_EXTENSION, k, _any_yaml(v))))
    parts.sort(key=lambda p: p[0])  # stable: repeated fields keep their order
    return b"".join(p[1] for p in parts)


def encode_document(swagger: str, title: str, version: str, paths: Iterable[str],
                    definitions: Mapping[str, Mapping[str, Any]]) -> bytes:
    """A whole `openapi.v2.Document`: info, (empty) path items, and the definitions."""
    info = string(INFO_TITLE, title) + string(INFO_VERSION, version)
    path_items = b"".join(_named(PATHS_PATH, p, b"") for p in paths)
    defs = b"".join(_named(DEFINITIONS_ADDITIONAL_PROPERTIES, n, encode_schema(s)) for n, s in definitions.items())
    return (string(DOC_SWAGGER, swagger) + length_delimited(DOC_INFO, info)
            + length_delimited(DOC_PATHS, path_items) + length_delimited(DOC_DEFINITIONS, defs))


__all__ = ["double", "encode_document", "encode_schema", "int_field", "length_delimited", "string", "varint"]
