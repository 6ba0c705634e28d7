"""Accept-header negotiation for resource responses.

Only three outcomes matter to clients: plain JSON (always acceptable, even when protobuf is
asked for), a `meta.k8s.io` Table (`kubectl get` human output), or PartialObjectMetadata
(metadata-only informers). The first media range we can serve wins, in the client's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tugboat.api.errors import ApiError


@dataclass(frozen=True, slots=True)
class Output:
    kind: str  # "json" | "table" | "meta"
    version: str = "v1"  # meta.k8s.io version of Table / PartialObjectMetadata


JSON_OUT = Output("json")


def _params(rng: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in rng.split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


@lru_cache(maxsize=256)
def negotiate(accept: str) -> Output:
    """Pick the output for an Accept header; raise 406 when nothing is servable."""
    if not accept:
        return JSON_OUT
    saw_unservable = False
    for rng in accept.split(","):
        mt, params = _params(rng)
        if not mt:
            continue
        as_ = params.get("as")
        if as_:
            if params.get("g") != "meta.k8s.io" or mt not in ("application/json", "*/*"):
                saw_unservable = True
                continue
            v = params.get("v", "v1")
            if v not in ("v1", "v1beta1"):
                saw_unservable = True
                continue
            if as_ == "Table":
                return Output("table", v)
            if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                return Output("meta", v)
            saw_unservable = True
            continue
        if mt in ("application/json", "application/*", "*/*", "application/yaml",
                  "application/vnd.kubernetes.protobuf", "application/json;stream=watch"):
            return JSON_OUT
        saw_unservable = True
    if saw_unservable:
        raise ApiError(406, "NotAcceptable",
                       "only the following media types are accepted: application/json, application/yaml, "
                       "application/vnd.kubernetes.protobuf")
    return JSON_OUT
