"""Small formatting helpers shared by the per-kind printers (upstream printers.go helpers).

Times are compared against an injected `now` so AGE columns are testable and every row of one
response uses the same instant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import schema

Obj = dict[str, Any]
Cells = list[Any]


def human_duration(seconds_total: float) -> str:
    """apimachinery duration.HumanDuration: ~2-3 significant figures ("5m", "2d3h", "3y45d")."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (metav1.Time / MicroTime) to an aware datetime; None when absent or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """translateTimestampSince: HumanDuration(now - t), `<unknown>` for a zero/missing time."""
    t = parse_time(value)
    if t is None:
        return "<unknown>"
    return human_duration((now - t).total_seconds())


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    cur = obj
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or not -len(cur) <= p < len(cur):
                return default
            cur = cur[p]
        else:
            if not isinstance(cur, dict) or p not in cur:
                return default
            cur = cur[p]
    return default if cur is None else cur


def meta(obj: Obj) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def age(obj: Obj, now: datetime) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


def containers_cells(pod_spec: Any) -> tuple[str, str]:
    """layoutContainerCells: container names and images, comma separated."""
    cs = dig(pod_spec, "containers", default=[]) or []
    return (",".join(str(c.get("name", "")) for c in cs if isinstance(c, dict)),
            ",".join(str(c.get("image", "")) for c in cs if isinstance(c, dict)))


def int_or_string(value: Any) -> str:
    return str(value)


def bool_ptr(value: Any) -> str:
    """printBoolPtr: "True"/"False", "<unset>" when nil."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def list_with_more(items: list[str], total: int, limit: int, empty: str = "<unset>") -> str:
    """listWithMoreString: first `limit` items, then " + N more..."."""
    ret = ",".join(items[:limit])
    if total > limit:
        return f"{ret} + {total - limit} more..."
    return ret or empty


def quantity(value: Any, default: str = "0") -> str:
    return default if value is None else str(value)


@functools.cache
def doc(definition: str, prop: str) -> str:
    """A property's description from upstream's OpenAPI (what Go's SwaggerDoc() returns)."""
    d = schema.definitions().get(definition) or {}
    p = (d.get("properties") or {}).get(prop) or {}
    return str(p.get("description", ""))


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "string"
    description: str | Callable[[], str] = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = self.description() if callable(self.description) else self.description
        return {"name": self.name, "type": self.type, "format": self.format, "description": d,
                "priority": self.priority}


def D(short: str, prop: str) -> Callable[[], str]:
    """Lazy description of `prop` in definition `short` ("core.v1.PodStatus" or "meta.v1.ObjectMeta")."""
    prefix = "io.k8s.apimachinery.pkg.apis." if short.startswith("meta.") else "io.k8s.api."
    return lambda: doc(prefix + short, prop)


OM = "meta.v1.ObjectMeta"
NAME = Column("Name", "string", D(OM, "name"), 0, "name")
AGE = Column("Age", "string", D(OM, "creationTimestamp"))
CONTAINERS = Column("Containers", description="Names of each container in the template.", priority=1)
IMAGES = Column("Images", description="Images referenced by each container in the template.", priority=1)


@dataclass(frozen=True, slots=True)
class Printer:
    """Columns plus a function giving one object's cells (all columns, wide ones included, as the
    upstream server always prints with Wide=true and lets kubectl hide priority>0 columns)."""

    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], Cells]
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None


PRINTERS: dict[tuple[str, str], Printer] = {}


def printer(groups: str | tuple[str, ...], kind: str, columns: list[Column]) -> Callable[
        [Callable[[Obj, datetime], Cells]], Callable[[Obj, datetime], Cells]]:
    """Register `fn` as the cells function of `kind` in each of `groups`."""
    gs = (groups,) if isinstance(groups, str) else groups

    def deco(fn: Callable[[Obj, datetime], Cells]) -> Callable[[Obj, datetime], Cells]:
        for g in gs:
            PRINTERS[(g, kind)] = Printer(tuple(columns), fn)
        return fn

    return deco
