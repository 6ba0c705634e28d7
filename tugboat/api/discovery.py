"""Discovery documents, built from the scheme.

Every kubectl command starts with `GET /api` + `GET /apis`; what it gets back decides which
resource names (`po`, `deploy`), scopes, verbs and subresources it knows. Clients pick the
format *only* from the response Content-Type, so the server must negotiate exactly like
upstream: aggregated `apidiscovery.k8s.io/v2` (kubectl >= 1.30) or `v2beta1` (1.27-1.29) when
the Accept header asks for it, and the legacy `APIVersions`/`APIGroupList`/`APIResourceList`
documents otherwise (older clients, the Python client). Getting this wrong makes old clients
parse an aggregated body as legacy and report `the server doesn't have a resource type`.

All functions here are pure: the HTTP layer caches their encoded output per
`scheme.generation` and serves it with `etag()` / `Vary: Accept`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

import orjson

from tugboat.api.scheme import ResourceType, Scheme

DiscoveryVersion = Literal["v2", "v2beta1"]

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"


# --- negotiation -------------------------------------------------------------------------


def _parse_accept(accept: str) -> list[tuple[str, dict[str, str], float, int]]:
    """Media ranges of an Accept header as (type/subtype, params, q, position)."""
    out: list[tuple[str, dict[str, str], float, int]] = []
    for pos, clause in enumerate(accept.split(",")):
        parts = [p.strip() for p in clause.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for p in parts[1:]:
            if "=" not in p:
                continue
            k, v = p.split("=", 1)
            k, v = k.strip().lower(), v.strip().strip('"')
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
            else:
                params[k] = v
        out.append((media, params, q, pos))
    return out


def negotiate(accept: str | None) -> DiscoveryVersion | None:
    """Which discovery document `/api` or `/apis` should serve for this Accept header.

    Returns "v2" or "v2beta1" for the aggregated form, None for the legacy form. Clauses are
    tried in preference order (q, then concrete before wildcard, then header order), like
    upstream's negotiation: the first aggregated clause naming a version we serve wins; a
    plain JSON or wildcard clause means legacy; anything else (protobuf, Table) is skipped.
    """
    if not accept:
        return None
    clauses = [c for c in _parse_accept(accept) if c[2] > 0]

    def rank(c: tuple[str, dict[str, str], float, int]) -> tuple[float, int, int, int]:
        media = c[0]
        t, _, s = media.partition("/")
        return (-c[2], t == "*", s == "*", c[3])

    for media, params, _q, _pos in sorted(clauses, key=rank):
        if media not in ("application/json", "application/*", "*/*"):
            continue
        if "as" in params or "g" in params or "v" in params:
            if (params.get("g") == AGGREGATED_GROUP and params.get("as") == AGGREGATED_KIND
                    and params.get("v") in ("v2", "v2beta1")):
                return params["v"]  # type: ignore[return-value]
            continue
        return None
    return None


def content_type(version: DiscoveryVersion | None) -> str:
    """The exact Content-Type a discovery response must carry (clients parse by it)."""
    if version is None:
        return "application/json"
    return f"application/json;g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


# --- aggregated ----------------------------------------------------------------------------


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(rt: ResourceType) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": _gvk(rt.group, rt.version, rt.kind),
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        r["shortNames"] = list(rt.short_names)
    if rt.categories:
        r["categories"] = list(rt.categories)
    if rt.subresources:
        r["subresources"] = [
            {"subresource": s.name, "responseKind": _gvk(s.group, s.version, s.kind), "verbs": sorted(s.verbs)}
            for s in sorted(rt.subresources, key=lambda s: s.name)
        ]
    return r


def _group_discovery(scheme: Scheme, group: str, versions: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": group, "creationTimestamp": None},
        "versions": [
            {
                "version": v,
                "resources": [_resource_discovery(rt) for rt in scheme.in_group_version(group, v)],
                "freshness": "Current",
            }
            for v in versions
        ],
    }


def aggregated(scheme: Scheme, core: bool, version: DiscoveryVersion = "v2") -> dict[str, Any]:
    """The `APIGroupDiscoveryList` for `/api` (core=True) or `/apis` (core=False)."""
    groups = scheme.groups()
    if core:
        items = [_group_discovery(scheme, "", groups[""])] if "" in groups else []
    else:
        items = [_group_discovery(scheme, g, vs) for g, vs in groups.items() if g]
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }


# --- legacy --------------------------------------------------------------------------------


def api_versions(server_address: str) -> dict[str, Any]:
    """`GET /api` in the legacy form."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _gv_for_discovery(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _api_group(group: str, versions: list[str]) -> dict[str, Any]:
    return {
        "name": group,
        "versions": [_gv_for_discovery(group, v) for v in versions],
        "preferredVersion": _gv_for_discovery(group, versions[0]),
    }


def api_group_list(scheme: Scheme) -> dict[str, Any]:
    """`GET /apis` in the legacy form (`APIGroupList`, core group excluded)."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group(g, vs) for g, vs in scheme.groups().items() if g],
    }


def api_group(scheme: Scheme, group: str) -> dict[str, Any] | None:
    """`GET /apis/<group>` (`APIGroup`), or None when the group does not exist."""
    versions = scheme.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's opaque storage version hash: base64 of the first 8 bytes of sha256(g/v/k)."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_resource_list(scheme: Scheme, group: str, version: str) -> dict[str, Any] | None:
    """`GET /api/v1` or `GET /apis/<g>/<v>` (`APIResourceList`), None if the GV is unknown.

    Subresources appear as their own entries (`pods/log`), carrying group/version only when
    the response kind lives in another group-version (`deployments/scale` → autoscaling/v1).
    """
    types = scheme.in_group_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        main: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": sorted(rt.verbs),
        }
        if rt.short_names:
            main["shortNames"] = list(rt.short_names)
        if rt.categories:
            main["categories"] = list(rt.categories)
        main["storageVersionHash"] = storage_version_hash(rt.store_group, rt.store_version, rt.kind)
        resources.append(main)
        for s in sorted(rt.subresources, key=lambda s: s.name):
            sub: dict[str, Any] = {"name": f"{rt.plural}/{s.name}", "singularName": "", "namespaced": rt.namespaced}
            if (s.group, s.version) != (group, version):
                sub["group"] = s.group
                sub["version"] = s.version
            sub["kind"] = s.kind
            sub["verbs"] = sorted(s.verbs)
            resources.append(sub)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# --- caching helpers ------------------------------------------------------------------------


def etag_bytes(body: bytes) -> str:
    """A strong, quoted ETag for an encoded document (upstream: hex of a content hash)."""
    return '"' + hashlib.sha256(body).hexdigest().upper() + '"'


def etag(doc: Any) -> str:
    """Stable ETag of a JSON-serialisable document (same content → same tag, across runs)."""
    return etag_bytes(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))


# Keyed by id(scheme); each entry holds the scheme itself so that id cannot be reused by
# another Scheme while the entry exists.
_encoded_cache: dict[tuple[int, int, bool, str], tuple[Scheme, bytes, str]] = {}


def encoded_aggregated(scheme: Scheme, core: bool, version: DiscoveryVersion = "v2") -> tuple[bytes, str]:
    """(JSON bytes, ETag) of `aggregated(...)`, rebuilt only when `scheme.generation` moves.

    Serve with `content_type(version)`, `Vary: Accept`, and 304 when If-None-Match matches.
    """
    key = (id(scheme), scheme.generation, core, version)
    hit = _encoded_cache.get(key)
    if hit is None:
        body = orjson.dumps(aggregated(scheme, core, version))
        hit = (scheme, body, etag_bytes(body))
        if len(_encoded_cache) > 64:
            _encoded_cache.clear()
        _encoded_cache[key] = hit
    return hit[1], hit[2]
