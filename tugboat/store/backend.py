"""The storage contract: keys → opaque bytes, with revisions and watch.

Storage knows nothing about kinds (kine's Backend idea). Every write gets the next value of
one cluster-wide revision counter; a key's `mod_revision` is the object's resourceVersion.
Optimistic concurrency is a compare-and-swap on the key's mod_revision; the API server hides
it behind one guaranteed-update helper.

Contract every backend meets (checked by tests/store/conformance):
- revisions strictly increase; each successful create/update/delete takes exactly one;
- `watch(prefix, after)` yields every event with revision > `after` whose key starts with
  `prefix`, in revision order, none missed, none duplicated, then live events as they commit;
- reading or watching below the compacted revision raises `CompactedError` (the API's 410);
- `list(..., revision=R)` returns the state as of R, so every page of a paginated LIST comes
  from one snapshot;
- a write is acknowledged (the coroutine returns) only after it is durable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change. `type` is PUT (create or update) or DELETE.

    For PUT, `kv` is the new value and `prev` the old one (None on create). For DELETE,
    `kv.value` is the last value before deletion and `kv.mod_revision` the revision of the
    delete itself; `prev` is the deleted KeyValue as it was stored.
    """

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def is_create(self) -> bool:
        return self.type == "PUT" and self.prev is None


@dataclass(frozen=True, slots=True)
class ListResult:
    revision: int  # the snapshot the items were read at
    items: list[KeyValue]  # sorted by key
    more: bool  # True when `limit` cut the result short
    remaining: int = 0  # how many keys after the last returned one (0 if unknown or none)


class StoreError(Exception):
    pass


class KeyExistsError(StoreError):
    def __init__(self, key: str):
        super().__init__(f"key exists: {key}")
        self.key = key


class NotFoundError(StoreError):
    def __init__(self, key: str):
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StoreError):
    """The key's mod_revision is not the expected one. `current` is what is stored now."""

    def __init__(self, key: str, current: KeyValue | None):
        super().__init__(f"revision conflict on {key}")
        self.key = key
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the compacted history."""

    def __init__(self, requested: int, compacted: int):
        super().__init__(f"required revision {requested} has been compacted (oldest is {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StoreError):
    """The requested revision has not happened yet (upstream: 'Too large resource version')."""

    def __init__(self, requested: int, current: int):
        super().__init__(f"revision {requested} is newer than the current revision {current}")
        self.requested = requested
        self.current = current


class Watch(Protocol):
    """An open watch. Iterate for batches of events; `close()` ends it (idempotent).

    Iteration ends when the watch is closed or the backend shuts down. If a watcher falls
    too far behind, a backend may end it by raising CompactedError from the iterator; the
    caller then re-lists, exactly as a client does on 410.
    """

    def __aiter__(self) -> AsyncIterator[list[Event]]: ...

    async def close(self) -> None: ...


class Backend(Protocol):
    async def start(self) -> None:
        """Open files/connections, recover state. Called once before any other method."""

    async def close(self) -> None:
        """Flush and release everything; end all watches."""

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int:
        """Revisions <= this are gone from history (0 if nothing was compacted)."""

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        """The key's value at `revision` (0 = latest), or None if absent then."""

    async def list(self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        """Keys with `prefix`, sorted, strictly after `start_after`, at most `limit` (0 = all),
        as of `revision` (0 = latest)."""

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes) -> int:
        """Store a new key; returns its revision. Raises KeyExistsError."""

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Replace a key if its mod_revision equals `expected_revision`; returns the new revision.
        Raises NotFoundError, or ConflictError carrying the current value."""

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KeyValue]:
        """Delete a key (if its mod_revision equals `expected_revision`, when non-zero); returns
        (revision of the delete, the deleted KeyValue). Raises NotFoundError / ConflictError."""

    def watch(self, prefix: str, after_revision: int) -> Watch:
        """Events with revision > after_revision for keys under `prefix`. Raises
        CompactedError (possibly on first iteration) if that history is gone."""

    async def compact(self, revision: int) -> None:
        """Drop history at or below `revision` (never the current value of a live key)."""
