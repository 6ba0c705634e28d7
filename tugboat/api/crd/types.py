"""From a CustomResourceDefinition dict to the scheme's ResourceTypes and per-version facts.

The API server adds one ResourceType per served version when a CRD becomes Established and
removes them when it goes; all versions share the storage version's location.
"""

from __future__ import annotations

from typing import Any

from ..scheme import ALL_VERBS, SCALE, ResourceType, Subresource

Obj = dict[str, Any]


def versions(crd: Obj) -> list[Obj]:
    return [v for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)]


def version(crd: Obj, name: str) -> Obj | None:
    return next((v for v in versions(crd) if v.get("name") == name), None)


def storage_version(crd: Obj) -> str | None:
    return next((v.get("name") for v in versions(crd) if v.get("storage")), None)


def schema_of(crd: Obj, name: str) -> Obj | None:
    """The version's openAPIV3Schema (None when the version has none)."""
    v = version(crd, name)
    return ((v or {}).get("schema") or {}).get("openAPIV3Schema")


def printer_columns(crd: Obj, name: str) -> list[Obj]:
    v = version(crd, name)
    return list((v or {}).get("additionalPrinterColumns") or [])


def resource_types(crd: Obj) -> list[ResourceType]:
    """One ResourceType per served version, all stored at the storage version's location."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, kind, plural = spec.get("group", ""), names.get("kind", ""), names.get("plural", "")
    singular = names.get("singular") or kind.lower()
    store = storage_version(crd)
    out = []
    for v in versions(crd):
        if not v.get("served"):
            continue
        vname = v.get("name", "")
        subs: list[Subresource] = []
        vsubs = v.get("subresources") or {}
        if "status" in vsubs:
            subs.append(Subresource("status", kind, group, vname))
        if "scale" in vsubs:
            subs.append(SCALE)
        out.append(ResourceType(
            group=group, version=vname, kind=kind, plural=plural, singular=singular,
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(subs), verbs=ALL_VERBS, storage_version=store, custom=True,
        ))
    return out


def scale_paths(ver: Obj) -> tuple[str, str, str | None] | None:
    """(specReplicasPath, statusReplicasPath, labelSelectorPath) of a version's scale
    subresource, or None when it has none."""
    scale = (ver.get("subresources") or {}).get("scale")
    if not isinstance(scale, dict):
        return None
    return (scale.get("specReplicasPath", ""), scale.get("statusReplicasPath", ""),
            scale.get("labelSelectorPath") or None)
