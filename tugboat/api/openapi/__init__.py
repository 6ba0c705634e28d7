"""OpenAPI v3 documents (`/openapi/v3` and `/openapi/v3/<api|apis/g>/<v>`), built from the scheme.

kubectl needs these for `apply`/`create`/`replace` (which refuse to run without them unless
`--validate=false`) and `explain`. The per-group-version documents are large (api/v1 is ~1.5
MB), so they are built once per distinct input and cached: a document's cache key is its
resource types (frozen, hashable) plus a digest of its CRD schemas, so adding a CRD rebuilds
only that CRD's group-version. The index carries a content hash per document; the server
serves `?hash=` URLs as immutable and kubectl's HTTP cache does the rest.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from tugboat.api import schema as S
from tugboat.api.openapi import components as C
from tugboat.api.openapi.paths import BUILTIN_MEDIA, PathBuilder, group_ident, ref, tag
from tugboat.api.scheme import ResourceType, Scheme

CrdSchemas = Mapping[tuple[str, str], Mapping[str, Any] | None]  # (kind, plural) -> openAPIV3Schema
CrdSchemasFor = Callable[[str, str], CrdSchemas | None]  # (group, version) -> CrdSchemas

K8S_VERSION = "v1.32.0"
SECURITY_SCHEMES = {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                    "name": "authorization", "type": "apiKey"}}
_CACHE_SIZE = 128


def _info() -> dict[str, str]:
    return {"title": "Kubernetes", "version": K8S_VERSION}


def gv_key(group: str, version: str) -> str:
    """The index key of a group-version document: `api/v1`, `apis/apps/v1`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _ref_for(custom_names: Mapping[tuple[str, str, str], str]) -> Callable[[str, str, str], str | None]:
    def ref_for(group: str, version: str, kind: str) -> str | None:
        return custom_names.get((group, version, kind)) or S.definition_name(group, version, kind)
    return ref_for


def _build_gv(types: list[ResourceType], group: str, version: str, crd: CrdSchemas | None) -> dict[str, Any]:
    custom_schemas: dict[str, C.Schema] = {}
    custom_names: dict[tuple[str, str, str], str] = {}
    for rt in types:
        if rt.custom:
            oas = (crd or {}).get((rt.kind, rt.plural))
            custom_schemas.update(C.custom_schemas(group, version, rt.kind, rt.list_kind, rt.plural, oas))
            custom_names[(group, version, rt.kind)] = C.custom_name(group, version, rt.kind)
            custom_names[(group, version, rt.list_kind)] = C.custom_name(group, version, rt.list_kind)
    ref_for = _ref_for(custom_names)
    paths: dict[str, Any] = {}
    refs: set[str] = set()
    all_custom = bool(types) and all(rt.custom for rt in types)
    discovery = PathBuilder(group, version, ref_for, custom=all_custom)
    paths.update(discovery.resource_list_path())
    refs |= discovery.refs
    for rt in types:
        pb = PathBuilder(group, version, ref_for, custom=rt.custom)
        paths.update(pb.resource(rt))
        refs |= pb.refs
    schemas = C.collect(refs, {n: s for n, s in custom_schemas.items()})
    return {
        "openapi": "3.0.0",
        "info": _info(),
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"BearerToken": []}],
    }


def _build_group(group: str) -> dict[str, Any]:
    name = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup"
    content = {m: {"schema": ref(name)} for m in BUILTIN_MEDIA}
    return {
        "openapi": "3.0.0",
        "info": _info(),
        "paths": {f"/apis/{group}/": {"get": {
            "description": "get information of a group", "operationId": f"get{group_ident(group)}APIGroup",
            "tags": [tag(group, "").rstrip("_")],
            "responses": {"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}},
        }}},
        "components": {"schemas": C.collect([name]), "securitySchemes": SECURITY_SCHEMES},
        "security": [{"BearerToken": []}],
    }


# --- caching ------------------------------------------------------------------------------------

_lock = threading.Lock()
_docs: OrderedDict[Any, tuple[dict[str, Any], bytes, str]] = OrderedDict()


def _crd_digest(crd: CrdSchemas | None) -> str:
    if not crd:
        return ""
    items = sorted(((k, p), v) for (k, p), v in crd.items())
    return hashlib.sha256(orjson.dumps([[list(k), v] for k, v in items], option=orjson.OPT_SORT_KEYS)).hexdigest()


def content_hash(body: bytes) -> str:
    """Upstream's document hash: uppercase hex SHA-512 of the served bytes."""
    return hashlib.sha512(body).hexdigest().upper()


def _cached(key: Any, build: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bytes, str]:
    with _lock:
        hit = _docs.get(key)
        if hit is not None:
            _docs.move_to_end(key)
            return hit
    doc = build()
    body = orjson.dumps(doc)
    entry = (doc, body, content_hash(body))
    with _lock:
        _docs[key] = entry
        while len(_docs) > _CACHE_SIZE:
            _docs.popitem(last=False)
    return entry


def _gv_entry(scheme: Scheme, group: str, version: str,
              crd_schemas: CrdSchemas | None) -> tuple[dict[str, Any], bytes, str] | None:
    types = scheme.in_group_version(group, version)
    if not types:
        return None
    crd = crd_schemas if any(rt.custom for rt in types) else None
    key = ("gv", group, version, tuple(types), _crd_digest(crd))
    return _cached(key, lambda: _build_gv(types, group, version, crd))


def group_version_doc(scheme: Scheme, group: str, version: str,
                      crd_schemas: CrdSchemas | None = None) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group-version, or None if the scheme has no such GV.

    The returned dict is shared with the cache: do not mutate it.
    """
    entry = _gv_entry(scheme, group, version, crd_schemas)
    return None if entry is None else entry[0]


def group_doc(group: str) -> dict[str, Any]:
    """The small `apis/<group>` document (the group's discovery endpoint only)."""
    return _cached(("group", group), lambda: _build_group(group))[0]


def encoded(scheme: Scheme, group: str, version: str | None,
            crd_schemas: CrdSchemas | None = None) -> tuple[bytes, str] | None:
    """(JSON bytes, content hash) of a GV document, or of the group document if version is None.

    Serve the hash as `ETag: "<hash>"`; a request whose `?hash=` differs should be redirected
    (301) to the current `serverRelativeURL`.
    """
    if version is None:
        if group not in scheme.groups() or not group:
            return None
        _, body, h = _cached(("group", group), lambda: _build_group(group))
        return body, h
    entry = _gv_entry(scheme, group, version, crd_schemas)
    return None if entry is None else (entry[1], entry[2])


def encoded_path(scheme: Scheme, path: str, crd_schemas_for: CrdSchemasFor | None = None) -> tuple[bytes, str] | None:
    """Resolve an index key (`api/v1`, `apis/apps/v1`, `apis/apps`) to (bytes, hash), or None."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        return encoded(scheme, "", parts[1])
    if len(parts) == 3 and parts[0] == "apis":
        return encoded(scheme, parts[1], parts[2], crd_schemas_for(parts[1], parts[2]) if crd_schemas_for else None)
    if len(parts) == 2 and parts[0] == "apis":
        return encoded(scheme, parts[1], None)
    return None


def index(scheme: Scheme, crd_schemas_for: CrdSchemasFor | None = None) -> dict[str, Any]:
    """`GET /openapi/v3`: every group-version (and group) document with its hashed URL."""
    paths: dict[str, Any] = {}
    for group, versions in scheme.groups().items():
        if group:
            got = encoded(scheme, group, None)
            if got is not None:
                paths[f"apis/{group}"] = {"serverRelativeURL": f"/openapi/v3/apis/{group}?hash={got[1]}"}
        for v in versions:
            crd = crd_schemas_for(group, v) if crd_schemas_for else None
            got = encoded(scheme, group, v, crd)
            if got is not None:
                key = gv_key(group, v)
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={got[1]}"}
    return {"paths": dict(sorted(paths.items()))}


__all__ = ["CrdSchemas", "CrdSchemasFor", "content_hash", "encoded", "encoded_path", "group_doc",
           "group_version_doc", "gv_key", "index"]
