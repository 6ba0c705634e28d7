"""Shared watch fan-out ("cacher"): ONE backend watch per storage prefix for all clients.

Each backend event is decoded once into a `CachedEvent`, kept in a ring of recent events (so
a client resuming from a recent resourceVersion is served from memory), and pushed by
reference to every subscribed `Watcher`; filtering and encoding happen per client, with the
encoded JSON line cached on the event per (type, apiVersion) so N watchers of one format
share one encoding. A client resuming from before the ring gets its own backend watch,
whose CompactedError becomes the 410.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson

from tugboat.store.backend import Backend, CompactedError, Event, Watch

from . import codec

log = logging.getLogger(__name__)
Obj = dict[str, Any]
RING_SIZE = 10_000
MAX_BACKLOG = 50_000  # a watcher this far behind is ended; the client re-watches


class CachedEvent:
    __slots__ = ("type", "rev", "key", "obj", "_prev_kv", "_prev", "_lines")

    def __init__(self, ev: Event):
        self.rev = ev.revision
        self.key = ev.kv.key
        if ev.type == "DELETE":
            self.type = "DELETED"
        else:
            self.type = "ADDED" if ev.prev is None else "MODIFIED"
        self.obj: Obj = codec.decode(ev.kv.value, ev.kv.mod_revision)
        self._prev_kv = ev.prev if ev.type == "PUT" else None
        self._prev: Obj | None = None
        self._lines: dict[tuple[str, str], bytes] = {}

    @property
    def prev(self) -> Obj | None:
        """The object before this change (decoded on first use; only selectors need it)."""
        if self._prev is None and self._prev_kv is not None:
            self._prev = codec.decode(self._prev_kv.value, self._prev_kv.mod_revision)
        return self._prev

    def line(self, etype: str, api_version: str, obj: Obj) -> bytes:
        """`{"type":..,"object":..}\\n`, cached for the event's own object per output version."""
        k = (etype, api_version)
        b = self._lines.get(k)
        if b is None:
            b = orjson.dumps({"type": etype, "object": obj}) + b"\n"
            self._lines[k] = b
        return b


class Watcher:
    """One client's queue of events under `prefix` with revision > `after`. `node`: the client
    selects pods by `spec.nodeName=<node>`, so the cacher only hands it events of pods that are
    (or were) on that node — upstream's indexed trigger; the client's own filter still decides."""

    def __init__(self, prefix: str, after: int, node: str | None = None):
        self.prefix = prefix
        self.after = after
        self.node = node
        self.queue: deque[CachedEvent] = deque()
        self.wake = asyncio.Event()
        self.error: Exception | None = None
        self.closed = False

    def push(self, ev: CachedEvent) -> None:
        if ev.rev <= self.after or not ev.key.startswith(self.prefix):
            return
        if len(self.queue) >= MAX_BACKLOG:
            self.fail(CompactedError(self.after, ev.rev))
            return
        self.queue.append(ev)
        self.wake.set()

    def fail(self, err: Exception) -> None:
        self.error = err
        self.queue.clear()
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def drain(self) -> list[CachedEvent]:
        out = list(self.queue)
        self.queue.clear()
        if out:
            self.after = out[-1].rev
        return out


class Cacher:
    def __init__(self, backend: Backend, prefix: str):
        self.backend = backend
        self.prefix = prefix
        self.ring: deque[CachedEvent] = deque(maxlen=RING_SIZE)
        self.covered_after = 0  # ring holds every event with rev > covered_after
        self.last_rev = 0
        self.watchers: set[Watcher] = set()
        # node-triggered watchers by node name: a thousand agents each watching its own pods
        # must not all wake up for every pod event (the loop would spend its time on wake-ups)
        self.by_node: dict[str, set[Watcher]] = {}
        self._task: asyncio.Task[None] | None = None
        self._watch: Watch | None = None

    async def ensure_started(self) -> None:
        if self._task is None:
            rev = await self.backend.current_revision()
            if self._task is None:
                self.covered_after = self.last_rev = rev
                self._watch = self.backend.watch(self.prefix, rev)
                self._task = asyncio.create_task(self._run(), name=f"cacher {self.prefix}")

    async def _run(self) -> None:
        while True:
            assert self._watch is not None
            try:
                async for batch in self._watch:
                    for ev in batch:
                        ce = CachedEvent(ev)
                        if len(self.ring) == self.ring.maxlen:
                            self.covered_after = self.ring[0].rev
                        self.ring.append(ce)
                        self.last_rev = ce.rev
                        for w in self.watchers:
                            w.push(ce)
                        if self.by_node:
                            self._push_triggered(ce)
                return  # backend closed
            except asyncio.CancelledError:
                raise
            except Exception as e:  # compaction under us or a backend failure: restart clean
                log.warning("watch cache %s restarting: %s", self.prefix, e)
                for w in self.all_watchers():
                    w.fail(CompactedError(w.after, self.last_rev))
                self.watchers.clear()
                self.by_node.clear()
                self.ring.clear()
                with contextlib.suppress(Exception):
                    await self._watch.close()
                await asyncio.sleep(0.1)
                rev = await self.backend.current_revision()
                self.covered_after = self.last_rev = rev
                self._watch = self.backend.watch(self.prefix, rev)

    def _push_triggered(self, ce: CachedEvent) -> None:
        node = _node_name(ce.obj)
        for w in self.by_node.get(node, ()):
            w.push(ce)
        if ce.type == "MODIFIED":  # an object that left a node still concerns that node's watchers
            old = _node_name(ce.prev)
            if old != node:
                for w in self.by_node.get(old, ()):
                    w.push(ce)

    def all_watchers(self) -> list[Watcher]:
        return [*self.watchers, *(w for ws in self.by_node.values() for w in ws)]

    def subscribe(self, w: Watcher) -> bool:
        """Attach `w` if the ring covers its start; False means the caller must watch the backend."""
        if w.after < self.covered_after:
            return False
        for ce in self.ring:  # replay: the watcher's own filter drops what is not its node's
            if ce.rev > w.after:
                w.push(ce)
        if w.node is None:
            self.watchers.add(w)
        else:
            self.by_node.setdefault(w.node, set()).add(w)
        return True

    def unsubscribe(self, w: Watcher) -> None:
        if w.node is None:
            self.watchers.discard(w)
            return
        ws = self.by_node.get(w.node)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del self.by_node[w.node]

    async def stop(self) -> None:
        for w in self.all_watchers():
            w.close()
        self.watchers.clear()
        self.by_node.clear()
        if self._watch is not None:
            with contextlib.suppress(Exception):
                await self._watch.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


def _node_name(obj: Obj | None) -> str:
    return ((obj or {}).get("spec") or {}).get("nodeName") or ""


class DirectFeed:
    """A dedicated backend watch feeding one Watcher (resume from before the ring)."""

    def __init__(self, backend: Backend, storage_prefix: str, w: Watcher):
        self.w = w
        self._watch = backend.watch(storage_prefix, w.after)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for batch in self._aiter():
                for ev in batch:
                    self.w.push(CachedEvent(ev))
            self.w.close()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.w.fail(e)

    def _aiter(self) -> AsyncIterator[list[Event]]:
        return self._watch.__aiter__()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._watch.close()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


class WatchCache:
    """All cachers, by storage prefix."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.cachers: dict[str, Cacher] = {}

    async def cacher(self, prefix: str) -> Cacher:
        c = self.cachers.get(prefix)
        if c is None:
            c = self.cachers[prefix] = Cacher(self.backend, prefix)
        await c.ensure_started()
        return c

    async def stop(self) -> None:
        for c in list(self.cachers.values()):
            await c.stop()
        self.cachers.clear()
