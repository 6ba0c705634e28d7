"""The informer's local cache: objects by `<namespace>/<name>` plus named secondary indexes.

Controllers read from here instead of the API server (listers), so lookups such as "pods in
namespace X" or "pods on node Y" must be cheap: each named index maps an index value to the
set of keys whose object produced it, maintained on every add/update/delete.

Objects stored here are SHARED and READ-ONLY: every handler and lister sees the same dict.
Mutating one corrupts the cache for everyone; copy first (`tugboat.client.informer.copy_obj`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import Any

IndexFunc = Callable[[dict[str, Any]], Iterable[str]]
NAMESPACE_INDEX = "namespace"


def meta_namespace_key(obj: dict[str, Any]) -> str:
    """client-go's MetaNamespaceKeyFunc: `ns/name`, or just `name` for cluster-scoped objects."""
    md = obj.get("metadata") or {}
    ns, name = md.get("namespace"), md.get("name", "")
    return f"{ns}/{name}" if ns else name


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of `meta_namespace_key`: (namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def namespace_index(obj: dict[str, Any]) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace") or ""]


class Indexer:
    def __init__(self, indexers: dict[str, IndexFunc] | None = None):
        self._items: dict[str, dict[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indexers.update(indexers or {})
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        for name, fn in indexers.items():
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = fn
            idx: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for v in fn(obj):
                    idx.setdefault(v, set()).add(key)
            self._indices[name] = idx

    def _unindex(self, key: str, obj: dict[str, Any]) -> None:
        for name, fn in self._indexers.items():
            idx = self._indices[name]
            for v in fn(obj):
                keys = idx.get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del idx[v]

    def _index(self, key: str, obj: dict[str, Any]) -> None:
        for name, fn in self._indexers.items():
            idx = self._indices[name]
            for v in fn(obj):
                idx.setdefault(v, set()).add(key)

    def put(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Add or replace; returns the previous object with this key (or None)."""
        key = meta_namespace_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def delete(self, key: str) -> dict[str, Any] | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def get(self, key: str) -> dict[str, Any] | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def list(self) -> builtins.list[dict[str, Any]]:
        return list(self._items.values())

    def items(self) -> builtins.list[tuple[str, dict[str, Any]]]:
        return list(self._items.items())

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        if index_name not in self._indices:
            raise KeyError(f"index {index_name!r} does not exist")
        return sorted(self._indices[index_name].get(value, ()))

    def by_index(self, index_name: str, value: str) -> builtins.list[dict[str, Any]]:
        return [self._items[k] for k in self.index_keys(index_name, value)]

    def index_names(self) -> builtins.list[str]:
        """Names of the indexes (``namespace`` plus any added)."""
        return list(self._indexers)

    def index_values(self, index_name: str) -> builtins.list[str]:
        return list(self._indices[index_name])
