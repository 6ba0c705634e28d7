"""ControllerRevisions: the template history StatefulSets and DaemonSets roll between.

Both controllers snapshot their pod template as a ControllerRevision named
`<parent>-<hash>` whose `data` is the strategic-merge patch
`{"spec": {"template": {..., "$patch": "replace"}}}` (upstream's getPatch), and label every pod
with `controller-revision-hash: <hash>`. `kubectl rollout history/undo` read these objects, so
the shape matters. Hash collisions (same name, different data) bump the parent's
`status.collisionCount`, which is mixed into the hash, as upstream does.

The hash is FNV over the JSON of the data with `SafeEncodeString`'s alphabet (the value can't
match upstream bit for bit — Go hashes its in-memory structs — but has the same form).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tugboat.client import Client, copy_obj, is_already_exists, is_not_found

from ._workload_pods import CONTROLLER_REVISIONS, Obj, meta, owned, owner_ref

REVISION_HASH_LABEL = "controller-revision-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


class RevisionCollision(Exception):
    """A revision with our name but other data exists: the parent's collisionCount was bumped."""


def safe_encode(s: str) -> str:
    """apimachinery rand.SafeEncodeString: digits mapped onto consonant-ish characters."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in s)


def _fnv32(data: bytes, alternate: bool) -> int:
    h = 0x811C9DC5
    for b in data:
        if alternate:  # FNV-1a
            h ^= b
            h = (h * 0x01000193) & 0xFFFFFFFF
        else:  # FNV-1
            h = (h * 0x01000193) & 0xFFFFFFFF
            h ^= b
    return h


def hash_revision_data(data: Any, collision_count: int | None) -> str:
    """StatefulSet revisions (history.HashControllerRevision: FNV-1 over data + probe)."""
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(_fnv32(raw, False)))


def hash_template(template: Any, collision_count: int | None) -> str:
    """DaemonSet revisions (controller.ComputeHash: FNV-1a over template + collision count)."""
    raw = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        raw += int(collision_count).to_bytes(8, "little")
    return safe_encode(str(_fnv32(raw, True)))


def template_patch(template: Mapping[str, Any] | None) -> Obj:
    t = copy_obj(template or {})
    t["$patch"] = "replace"
    return {"spec": {"template": t}}


def template_of(revision: Mapping[str, Any]) -> Obj:
    t = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    t.pop("$patch", None)
    return t


def revisions_of(lister: Any, parent: Mapping[str, Any]) -> list[Obj]:
    """The parent's ControllerRevisions, oldest revision first."""
    md = meta(parent)
    revs = owned(lister.list(md.get("namespace")), md.get("uid", ""))
    return sorted(revs, key=lambda r: (int(r.get("revision") or 0), meta(r).get("name", "")))


def next_revision(revs: list[Obj]) -> int:
    return max((int(r.get("revision") or 0) for r in revs), default=0) + 1


async def ensure_revision(client: Client, parent: Mapping[str, Any], api_version: str, kind: str,
                          revs: list[Obj], data: Obj, hash_: str, labels: Mapping[str, str] | None,
                          annotations: Mapping[str, str] | None = None) -> Obj:
    """The revision holding `data`: an equal existing one (re-numbered to be the newest, as a
    rollback does upstream) or a new one. Raises RevisionCollision on a name clash."""
    md = meta(parent)
    name = f"{md.get('name')}-{hash_}"
    latest = revs[-1] if revs else None
    for r in revs:
        if r.get("data") == data:
            if r is latest or meta(r).get("name") == meta(latest or {}).get("name"):
                return r
            upd = copy_obj(r)
            upd["revision"] = next_revision(revs)
            return await client.update(CONTROLLER_REVISIONS, upd)
    body: Obj = {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": md.get("namespace"),
                     "labels": {**(labels or {}), REVISION_HASH_LABEL: hash_},
                     "ownerReferences": [owner_ref(parent, api_version, kind)]},
        "data": data, "revision": next_revision(revs),
    }
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    try:
        return await client.create(CONTROLLER_REVISIONS, body)
    except Exception as e:
        if not is_already_exists(e):
            raise
    existing = await client.get(CONTROLLER_REVISIONS, name, md.get("namespace"))
    ref = next((r for r in meta(existing).get("ownerReferences") or () if r.get("controller")), None)
    if existing.get("data") == data and ref is not None and ref.get("uid") == md.get("uid"):
        return existing
    raise RevisionCollision(name)


async def truncate_history(client: Client, revs: list[Obj], live: set[str], limit: int) -> None:
    """Delete the oldest revisions that no pod uses, keeping `limit` of them."""
    old = [r for r in revs if meta(r).get("name") not in live]
    for r in old[: max(0, len(old) - limit)]:
        try:
            await client.delete(CONTROLLER_REVISIONS, meta(r)["name"], meta(r).get("namespace"))
        except Exception as e:
            if not is_not_found(e):
                raise
