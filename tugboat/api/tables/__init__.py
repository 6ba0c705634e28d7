"""Server-side `Table` output (meta.k8s.io/v1) — what `kubectl get` actually prints.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns the
server chose, so the columns, their order, types, priorities (1 = only with `-o wide`) and
cell formats follow upstream's printers (pkg/printers/internalversion/printers.go). All cells,
wide ones included, are always sent (upstream prints with Wide=true server-side).

Public API: `column_definitions`, `to_table`, `row_for`, `human_duration`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import core, other, pods, workloads  # noqa: F401  (register printers)
from .custom import DEFAULT_COLUMNS, crd_cells, crd_column_defs, default_cells
from .util import PRINTERS, human_duration

__all__ = ["column_definitions", "to_table", "row_for", "human_duration", "has_printer"]

INCLUDE_OBJECT = ("None", "Metadata", "Object")


def has_printer(group: str, kind: str) -> bool:
    return (group, kind) in PRINTERS


def column_definitions(group: str, kind: str, crd_columns: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Table columnDefinitions. Pass `crd_columns` (a version's additionalPrinterColumns, possibly
    empty) for custom resources."""
    if crd_columns is not None:
        return crd_column_defs(crd_columns)
    p = PRINTERS.get((group, kind))
    cols = p.columns if p else DEFAULT_COLUMNS
    return [c.to_dict() for c in cols]


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def row_for(group: str, kind: str, obj: dict[str, Any], *, now: datetime, include_object: str = "Metadata",
            crd_columns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One TableRow (cells, optional conditions, object) for `obj`."""
    if include_object not in INCLUDE_OBJECT:
        include_object = "Metadata"
    conditions: list[dict[str, str]] = []
    if crd_columns is not None:
        cells = crd_cells(obj, crd_columns, now)
    else:
        p = PRINTERS.get((group, kind))
        if p is None:
            cells = default_cells(obj, now)
        else:
            cells = p.cells(obj, now)
            if p.conditions is not None:
                conditions = p.conditions(obj)
    row: dict[str, Any] = {"cells": cells}
    if conditions:
        row["conditions"] = conditions
    row["object"] = _row_object(obj, include_object)
    return row


def to_table(group: str, kind: str, objects: list[dict[str, Any]], *, now: datetime,
             include_object: str = "Metadata", list_meta: dict[str, Any] | None = None,
             crd_columns: list[dict[str, Any]] | None = None, no_headers: bool = False) -> dict[str, Any]:
    """A full Table. `list_meta` is the list's metadata (resourceVersion, continue,
    remainingItemCount); for a single get pass None and the object's resourceVersion is used.
    `no_headers=True` omits columnDefinitions (watch events after the first)."""
    md: dict[str, Any] = {}
    if list_meta is not None:
        for k in ("resourceVersion", "continue", "remainingItemCount"):
            if list_meta.get(k) not in (None, ""):
                md[k] = list_meta[k]
    elif len(objects) == 1:
        rv = (objects[0].get("metadata") or {}).get("resourceVersion")
        if rv:
            md["resourceVersion"] = rv
    table: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md}
    # Go marshals the omitted (nil) definitions as null.
    table["columnDefinitions"] = None if no_headers else column_definitions(group, kind, crd_columns)
    table["rows"] = [row_for(group, kind, o, now=now, include_object=include_object, crd_columns=crd_columns)
                     for o in objects]
    return table
