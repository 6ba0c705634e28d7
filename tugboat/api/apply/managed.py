"""`metadata.managedFields` on the wire ↔ the per-manager field sets the algorithms work on.

Mirrors apimachinery's `managedfields/internal` bookkeeping: a manager is identified by
(manager, operation, apiVersion — Update entries only, subresource), so an applier keeps one
entry across API versions while each version an updater wrote through gets its own; entries
are emitted Apply-first, then oldest-first; at most ten Update entries are kept, older ones
folding into an `ancient-changes` entry per API version; and the user may reset the list by
writing `[]` or `[{}]`. Also here: the fieldManager checks and the User-Agent fallback.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from tugboat.api.errors import ApiError, FieldError

from .fieldset import FieldSet

MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"
FIELD_MANAGER_MAX_LENGTH = 128


class ManagerId(NamedTuple):
    manager: str
    operation: str
    api_version: str  # "" for Apply entries
    subresource: str


@dataclass(slots=True)
class Entry:
    fields: FieldSet
    api_version: str
    applied: bool
    time: str | None = None


Managed = dict[ManagerId, Entry]


def manager_id(manager: str, operation: str, api_version: str, subresource: str = "") -> ManagerId:
    return ManagerId(manager, operation, "" if operation == "Apply" else api_version, subresource)


def print_manager(mid: ManagerId) -> str:
    """How conflict messages name a manager: `"m"`, `"m" with subresource "s"`,
    `"m" using apps/v1` (Update entries)."""
    out = _go_quote(mid.manager)
    if mid.subresource:
        out += f" with subresource {_go_quote(mid.subresource)}"
    if mid.operation == "Update":
        out += f" using {mid.api_version}"
    return out


def _go_quote(s: str) -> str:
    import orjson
    return orjson.dumps(s).decode()


def is_reset(entries: Any) -> bool:
    """`managedFields: []` or `[{}]` in a write asks to drop all field ownership."""
    return isinstance(entries, list) and (entries == [] or entries == [{}])


def decode(entries: Any) -> Managed:
    """Parse `managedFields`; raises ValueError with upstream's wording on bad entries."""
    out: Managed = {}
    if entries is None:
        return out
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"invalid managed fields entry {i}")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        if not e.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        ftype = e.get("fieldsType") or ""
        if ftype == "":
            raise ValueError(f"missing fieldsType in managed fields entry {i}")
        if ftype != "FieldsV1":
            raise ValueError(f'invalid fieldsType "{ftype}" in managed fields entry {i}')
        mid = manager_id(str(e.get("manager") or ""), op, str(e["apiVersion"]), str(e.get("subresource") or ""))
        fields = FieldSet.from_fields_v1(e.get("fieldsV1") or {})
        out[mid] = Entry(fields, str(e["apiVersion"]), op == "Apply", e.get("time"))
    return out


def decode_or_empty(entries: Any) -> Managed:
    try:
        return decode(entries)
    except (ValueError, TypeError):
        return {}


@functools.lru_cache(maxsize=4096)
def _epoch(t: str | None) -> int:
    if not t:
        return 0
    try:
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def encode(managed: Managed) -> list[dict[str, Any]] | None:
    """The wire form, sorted as upstream sorts it; None when nothing is managed."""
    if not managed:
        return None
    rows = []
    for mid, entry in managed.items():
        row: dict[str, Any] = {}
        if mid.manager:
            row["manager"] = mid.manager
        row["operation"] = "Apply" if entry.applied else mid.operation
        if entry.api_version:
            row["apiVersion"] = entry.api_version
        if entry.time:
            row["time"] = entry.time
        row["fieldsType"] = "FieldsV1"
        row["fieldsV1"] = entry.fields.to_fields_v1()
        if mid.subresource:
            row["subresource"] = mid.subresource
        rows.append(row)
    rows.sort(key=lambda r: (r["operation"], _epoch(r.get("time")), r.get("manager", ""),
                             r.get("apiVersion", ""), r.get("subresource", "")))
    return rows


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Fold the oldest Update entries into `ancient-changes` buckets until ≤ limit remain."""
    updaters = [mid for mid, e in managed.items() if not e.applied]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda m: (_epoch(managed[m].time), m))
    first_for_version: dict[str, ManagerId] = {}
    length = len(updaters)
    for mid in updaters:
        if length <= limit:
            break
        entry = managed[mid]
        version = entry.api_version
        bucket = ManagerId(ANCIENT_CHANGES, "Update", version, "")
        first = first_for_version.get(version)
        if first is None:
            first_for_version[version] = mid
            continue
        if bucket not in managed:
            managed[bucket] = managed.pop(first)
        managed[bucket] = Entry(entry.fields.union(managed[bucket].fields), version, False, entry.time)
        del managed[mid]
        length -= 1


# ---------------------------------------------------------------- field manager names

def manager_from_user_agent(ua: str) -> str:
    """Upstream's prefixFromUserAgent: the text before the first '/', unprintable characters
    dropped, cut to 128 bytes."""
    out: list[str] = []
    size = 0
    for ch in ua.split("/", 1)[0]:
        if not _printable(ch):
            continue
        n = len(ch.encode())
        if size + n > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
        size += n
    return "".join(out)


def _printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def validate_field_manager(field_manager: str, *, apply: bool, options_kind: str = "PatchOptions") -> None:
    """The checks of `ValidatePatchOptions`/`ValidateFieldManager`: 422 Invalid on the options
    object (`PatchOptions.meta.k8s.io "" is invalid: fieldManager: ...`)."""
    errs: list[FieldError] = []
    if apply and field_manager == "":
        errs.append(FieldError("FieldValueRequired", "fieldManager", "Required value: is required for apply patch"))
    if len(field_manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        errs.append(FieldError("FieldValueTooLong", "fieldManager",
                               f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"))
    for i, ch in enumerate(field_manager):
        if not _printable(ch):
            errs.append(FieldError("FieldValueInvalid", "fieldManager",
                                   f"Invalid value: {_go_quote(field_manager)}: invalid character "
                                   f"U+{ord(ch):04X} (at position {i})"))
    if not errs:
        return
    joined = ", ".join(f"{e.field}: {e.message}" for e in errs)
    if len(errs) > 1:
        joined = "[" + joined + "]"
    raise ApiError(422, "Invalid", f'{options_kind}.meta.k8s.io "" is invalid: {joined}',
                   {"group": "meta.k8s.io", "kind": options_kind}, errs)
