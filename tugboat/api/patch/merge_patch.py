"""RFC 7386 JSON merge patch (`application/merge-patch+json`), as the apiserver applies it.

Upstream uses evanphx/json-patch's MergePatch, whose edge cases we keep:
- a `null` or scalar patch body is refused: 400 BadRequest "Invalid JSON Patch";
- a list patch replaces the document (the caller's decode into an object then fails);
- null members are pruned from every object the patch introduces, also inside arrays, while
  null elements of arrays are kept.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.errors import bad_request
from tugboat.api.patch._util import deep_copy, guard_depth

INVALID_PATCH = "Invalid JSON Patch"


@guard_depth
def merge_patch(doc: Any, patch: Any) -> Any:
    """Apply `patch` to a copy of `doc` with RFC 7386 semantics and return the copy."""
    if patch is None or not isinstance(patch, dict | list):
        raise bad_request(INVALID_PATCH)
    patch = deep_copy(patch)
    if isinstance(patch, list):
        return _prune(patch)
    if not isinstance(doc, dict):
        return _prune(patch)
    return _merge(deep_copy(doc), patch)


def _merge(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `doc` in place (both are private copies)."""
    for k, v in patch.items():
        if v is None:
            doc.pop(k, None)
            continue
        cur = doc.get(k)
        if k not in doc or not isinstance(cur, dict):
            doc[k] = _prune(v)
        elif isinstance(v, dict):
            doc[k] = _merge(cur, v)
        else:
            doc[k] = v
    return doc


def _prune(value: Any) -> Any:
    """Drop null members of objects, recursively (in place)."""
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            _prune(v)
    elif isinstance(value, list):
        for v in value:
            _prune(v)
    return value
