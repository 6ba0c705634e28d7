"""The OpenAPI v2 (Swagger 2.0) document served at `/openapi/v2`, as JSON and as gnostic protobuf.

kubectl only falls back to v2 where v3 cannot serve it, most visibly client-side validation:
for `kind: List` manifests its fieldValidation verifier reports "unsupported" and kubectl
validates each item against the v2 `definitions` (walked by `x-kubernetes-group-version-kind`).
Without this document, `kubectl create -f list.yaml` fails with "the server could not find the
requested resource". So the definitions are complete (every built-in schema, upstream's 1.32
descriptions and extensions, in v2 form: `#/definitions/` refs, IntOrString as
`type: string, format: int-or-string`) while paths are left empty — no v2 client reads them.
Custom resources are absent: kubectl skips validation for a GVK it cannot find.
The document is the same for the server's lifetime, so it is built once.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from tugboat.api import schema as S
from tugboat.api.openapi.v2proto import encode_document

# kubectl asks for the `@` form, but `@` is not a MIME token character and client-go runs the
# response Content-Type through Go's mime.ParseMediaType ("unexpected content after media
# subtype"), so upstream answers with the dotted form (kube-openapi `subTypeProtobuf`).
PROTOBUF_MEDIA = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_MEDIA_ACCEPTED = (PROTOBUF_MEDIA, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
SWAGGER = "2.0"
K8S_VERSION = "v1.32.0"
V2_REF_PREFIX = "#/definitions/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

_QUANTITY_DESC = ("Quantity is a fixed-point representation of a number. It provides convenient marshaling/"
                  "unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.")
_IOS_DESC = ("IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling "
             "and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, "
             "a JSON field that can accept a name or number.")
_OVERRIDES: dict[str, dict[str, Any]] = {
    INT_OR_STRING: {"description": _IOS_DESC, "type": "string", "format": "int-or-string"},
    QUANTITY: {"description": _QUANTITY_DESC, "type": "string"},
}


def to_v2(node: Any) -> Any:
    """One normalised (OpenAPI v3 flavoured) schema node in Swagger 2.0 form."""
    if isinstance(node, list):
        return [to_v2(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "$ref" and isinstance(v, str) and v.startswith(S.OPENAPI_REF_PREFIX):
            out[k] = V2_REF_PREFIX + v[len(S.OPENAPI_REF_PREFIX):]
        elif k == "properties" and isinstance(v, dict):
            out[k] = {pk: to_v2(pv) for pk, pv in v.items()}
        elif k == "x-kubernetes-int-or-string":
            continue
        else:
            out[k] = to_v2(v)
    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = "string"
        out["format"] = "int-or-string"
    return out


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """Every built-in definition in v2 form, sorted by name (cached; read-only)."""
    defs = S.definitions()
    return {name: _OVERRIDES.get(name) or to_v2(defs[name]) for name in sorted(defs)}


def document() -> dict[str, Any]:
    """The v2 document as a JSON-shaped dict (shares cached definitions: do not mutate)."""
    return {"swagger": SWAGGER, "info": {"title": "Kubernetes", "version": K8S_VERSION}, "paths": {},
            "definitions": definitions()}


@functools.cache
def encoded_protobuf() -> tuple[bytes, str]:
    """(gnostic protobuf bytes, ETag value) of the document."""
    from tugboat.api.openapi import content_hash

    body = encode_document(SWAGGER, "Kubernetes", K8S_VERSION, [], definitions())
    return body, f'"{content_hash(body)}"'


@functools.cache
def encoded_json() -> tuple[bytes, str]:
    """(JSON bytes, ETag value) of the document."""
    from tugboat.api.openapi import content_hash

    body = orjson.dumps(document())
    return body, f'"{content_hash(body)}"'


def wants_protobuf(accept: str | None) -> bool:
    """Upstream serves JSON unless the client asks for the protobuf media type."""
    return any(m in (accept or "") for m in PROTOBUF_MEDIA_ACCEPTED)


__all__ = ["PROTOBUF_MEDIA", "PROTOBUF_MEDIA_ACCEPTED", "definitions", "document", "encoded_json", "encoded_protobuf", "to_v2",
           "wants_protobuf"]
