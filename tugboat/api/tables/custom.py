"""Columns of custom resources (CRD additionalPrinterColumns) and of kinds without a printer.

Upstream's CRD table convertor: NAME first, then each printer column evaluated as a JSONPath;
when a version declares no columns, a single AGE column (`.metadata.creationTimestamp`, type
date) is served. Built-in kinds without a printer (Role, ClusterRole, LimitRange, CRDs
themselves...) use the generic convertor: NAME and CREATED AT (an RFC 3339 string).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import jsonpath
from .util import NAME, OM, Cells, Column, D, Obj, meta, name, parse_time, since

DEFAULT_COLUMNS = (NAME, Column("Created At", "date", D(OM, "creationTimestamp")))
DEFAULT_CRD_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                      "description": ""}


def default_cells(obj: Obj, now: datetime) -> Cells:
    t = parse_time(meta(obj).get("creationTimestamp"))
    created = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else "0001-01-01T00:00:00Z"
    return [name(obj), created]


def crd_column_defs(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [NAME.to_dict()]
    for c in columns or [DEFAULT_CRD_COLUMN]:
        desc = c.get("description") or f"Custom resource definition column (in JSONPath format): {c.get('jsonPath', '')}"
        if c is DEFAULT_CRD_COLUMN:
            desc = D(OM, "creationTimestamp")()
        out.append({"name": c.get("name", ""), "type": c.get("type", "string"), "format": c.get("format", ""),
                    "description": desc, "priority": int(c.get("priority") or 0)})
    return out


def _cell(typ: str, value: Any, now: datetime) -> Any:
    if value is None:
        return None
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    if typ == "integer":
        return int(value) if is_num else None
    if typ == "number":
        return float(value) if is_num else None
    if typ == "boolean":
        return value if isinstance(value, bool) else None
    if typ == "date":
        if not isinstance(value, str):
            return None
        return since(value, now) if parse_time(value) else "<invalid>"
    return None


def crd_cells(obj: Obj, columns: list[dict[str, Any]], now: datetime) -> Cells:
    cells: Cells = [name(obj)]
    for c in columns or [DEFAULT_CRD_COLUMN]:
        try:
            found = jsonpath.evaluate(obj, c.get("jsonPath", ""))
        except jsonpath.JSONPathError:
            found = []
        if not found:
            cells.append(None)
            continue
        typ = c.get("type", "string")
        cells.append(jsonpath.to_text(found[0]) if typ == "string" else _cell(typ, found[0], now))
    return cells
