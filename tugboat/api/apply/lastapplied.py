"""The bridge from client-side `kubectl apply` to server-side apply (apimachinery's
`lastappliedmanager.go` and `lastappliedupdater.go`).

An object last written by client-side apply is owned by `kubectl-client-side-apply`, so a
following `kubectl apply --server-side` (manager `kubectl`) would conflict on every field it
changes. Upstream lets `kubectl` take over the fields recorded in the
`last-applied-configuration` annotation that still match the live object, and keeps that
annotation in step with what was server-side applied, so switching back also works.
"""

from __future__ import annotations

from typing import Any

import orjson

from .fieldset import FieldSet, json_text
from .typed import SchemaError, TypeNode
from .walk import compare, to_set

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_ANNOTATIONS_MAX_BYTES = 256 * 1024


def allowed_by_last_applied(live: dict[str, Any], t: TypeNode, api_version: str) -> FieldSet | None:
    """lastappliedmanager.go: fields of the client-side-apply annotation that still match the
    live object may be taken over by `kubectl` without a conflict."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not text:
        return None
    try:
        last_applied = orjson.loads(text)
        if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
            return None
        fields = to_set(last_applied, t, strict=True)
    except (orjson.JSONDecodeError, SchemaError):
        return None
    added, modified, removed = (s for s in compare(last_applied, live, t, zero_fill=False).sets())
    return fields.difference(modified).difference(added).difference(removed)


def update_last_applied(meta: dict[str, Any], applied: dict[str, Any]) -> None:
    """lastappliedupdater.go: `kubectl` applies keep an existing CSA annotation in sync."""
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    config = dict(applied)
    cmeta = config.get("metadata")
    if isinstance(cmeta, dict) and isinstance(cmeta.get("annotations"), dict):
        cmeta = config["metadata"] = dict(cmeta)
        cmeta["annotations"] = {k: v for k, v in cmeta["annotations"].items() if k != LAST_APPLIED}
    annotations = dict(annotations)
    annotations[LAST_APPLIED] = json_text(config) + "\n"
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > _ANNOTATIONS_MAX_BYTES:
        del annotations[LAST_APPLIED]
    meta["annotations"] = annotations
