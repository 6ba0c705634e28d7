"""Patches the API server applies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
Kubernetes strategic merge patch. Pure functions on plain dicts: each returns a new object and
never mutates its inputs; bad patches raise `ApiError` with upstream's code and message.
"""

from tugboat.api.patch.json_patch import MAX_COPY_BYTES, MAX_OPERATIONS, json_patch
from tugboat.api.patch.merge_patch import merge_patch
from tugboat.api.patch.strategic import strategic_merge_patch
from tugboat.api.patch.two_way import create_two_way_merge_patch

__all__ = [
    "MAX_COPY_BYTES",
    "MAX_OPERATIONS",
    "create_two_way_merge_patch",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]
