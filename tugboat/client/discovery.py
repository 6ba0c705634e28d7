"""Client-side discovery: find the ResourceType for an (apiVersion, kind) the scheme lacks.

Built-in kinds come straight from `tugboat.api.scheme.default_scheme()` (no round trip).
Custom resources are found through `/api` and `/apis` in the aggregated form
(apidiscovery.k8s.io/v2, one request each), falling back to the legacy per-group-version
documents when the server answers with plain JSON. Results are cached; a miss refreshes once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tugboat.api.scheme import ResourceType, Subresource, default_scheme
from tugboat.client.errors import ApiStatusError

if TYPE_CHECKING:
    from tugboat.client.rest import Client

AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json;q=0.9")
_BUILTIN = {(rt.api_version, rt.kind): rt for rt in default_scheme().all()}


def _split_gv(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _from_aggregated(group: str, version: str, r: dict[str, Any]) -> ResourceType:
    rk = r.get("responseKind") or {}
    subs = tuple(
        Subresource(s.get("subresource", ""), (s.get("responseKind") or {}).get("kind", ""),
                    (s.get("responseKind") or {}).get("group", ""), (s.get("responseKind") or {}).get("version", "v1"),
                    tuple(s.get("verbs") or ()))
        for s in r.get("subresources") or ()
    )
    return ResourceType(group, version, rk.get("kind", ""), r["resource"], r.get("singularResource") or "",
                        r.get("scope") != "Cluster", tuple(r.get("shortNames") or ()),
                        tuple(r.get("categories") or ()), subs, tuple(r.get("verbs") or ()), custom=True)


def _from_legacy(group: str, version: str, resources: list[dict[str, Any]]) -> list[ResourceType]:
    main = [r for r in resources if "/" not in r.get("name", "")]
    out = []
    for r in main:
        subs = tuple(
            Subresource(s["name"].split("/", 1)[1], s.get("kind", ""), s.get("group", ""), s.get("version", "v1"),
                        tuple(s.get("verbs") or ()))
            for s in resources if s.get("name", "").startswith(r["name"] + "/")
        )
        out.append(ResourceType(group, version, r.get("kind", ""), r["name"], r.get("singularName") or "",
                                bool(r.get("namespaced")), tuple(r.get("shortNames") or ()),
                                tuple(r.get("categories") or ()), subs, tuple(r.get("verbs") or ()), custom=True))
    return out


class Discovery:
    def __init__(self, client: Client):
        self.client = client
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self._loaded = False

    async def resource_for(self, api_version: str, kind: str) -> ResourceType:
        key = (api_version, kind)
        if key in _BUILTIN:
            return _BUILTIN[key]
        if key not in self._by_kind:
            await self.refresh()
        if key not in self._by_kind:
            raise ApiStatusError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
        return self._by_kind[key]

    def resources(self) -> list[ResourceType]:
        return list(self._by_kind.values())

    async def refresh(self) -> None:
        found: list[ResourceType] = []
        for root in ("/api", "/apis"):
            doc = await self.client.request("GET", root, accept=AGGREGATED_ACCEPT)
            if isinstance(doc, dict) and doc.get("kind") == "APIGroupDiscoveryList":
                for item in doc.get("items") or ():
                    group = (item.get("metadata") or {}).get("name") or ""
                    for v in item.get("versions") or ():
                        found.extend(_from_aggregated(group, v["version"], r) for r in v.get("resources") or ())
            elif isinstance(doc, dict) and doc.get("kind") == "APIVersions":
                for v in doc.get("versions") or ():
                    found.extend(await self._legacy_gv("", v))
            elif isinstance(doc, dict) and doc.get("kind") == "APIGroupList":
                for g in doc.get("groups") or ():
                    for v in g.get("versions") or ():
                        found.extend(await self._legacy_gv(g["name"], v["version"]))
        self._by_kind = {}
        for rt in found:
            self._by_kind.setdefault((rt.api_version, rt.kind), rt)
        self._loaded = True

    async def _legacy_gv(self, group: str, version: str) -> list[ResourceType]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        doc = await self.client.request("GET", path)
        return _from_legacy(group, version, (doc or {}).get("resources") or [])
