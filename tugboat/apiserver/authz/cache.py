"""Watch-fed in-memory copies of the objects authorization reads on every request.

Authorizing must not cost a store round trip, and must see writes from every API server
sharing the store (HA on etcd), so each `Mirror` lists one store prefix and then watches it
from the list's revision — the same list+watch contract informers use — relisting on any
watch failure (compaction). `PolicyCache` mirrors the four RBAC kinds; the node authorizer
mirrors pods the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from tugboat.api.scheme import ResourceType, Scheme
from tugboat.store.backend import Backend

from .. import codec

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Listener = Callable[[str, Obj | None, Obj | None], None]  # key, new (None: deleted), old


class Mirror:
    def __init__(self, backend: Backend, prefix: str):
        self.backend = backend
        self.prefix = prefix
        self.objects: dict[str, Obj] = {}
        self.listeners: list[Listener] = []
        self.revision = 0
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._run(), name=f"authz mirror {self.prefix}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    def _set(self, key: str, new: Obj | None) -> None:
        old = self.objects.pop(key, None) if new is None else self.objects.get(key)
        if new is not None:
            self.objects[key] = new
        for fn in self.listeners:
            fn(key, new, old)

    async def _relist(self) -> None:
        res = await self.backend.list(self.prefix)
        seen = set()
        for kv in res.items:
            seen.add(kv.key)
            self._set(kv.key, codec.decode(kv.value, kv.mod_revision))
        for key in [k for k in self.objects if k not in seen]:
            self._set(key, None)
        self.revision = res.revision

    async def _run(self) -> None:
        while True:
            watch = self.backend.watch(self.prefix, self.revision)
            try:
                async for batch in watch:
                    for ev in batch:
                        self._set(ev.kv.key, None if ev.type == "DELETE" else codec.decode(ev.kv.value, ev.kv.mod_revision))
                        self.revision = ev.kv.mod_revision
                return  # backend closed
            except asyncio.CancelledError:
                raise
            except Exception as e:  # compacted under us or a backend hiccup: relist
                log.warning("authz mirror %s relisting: %s", self.prefix, e)
                await asyncio.sleep(0.2)
                with contextlib.suppress(Exception):
                    await self._relist()
            finally:
                with contextlib.suppress(Exception):
                    await watch.close()


def _rt(scheme: Scheme, resource: str) -> ResourceType:
    rt = scheme.get("rbac.authorization.k8s.io", "v1", resource)
    assert rt is not None
    return rt


class PolicyCache:
    """Roles, ClusterRoles and bindings by name; implements rbac.PolicySource."""

    def __init__(self, backend: Backend, scheme: Scheme):
        self.roles_rt, self.cluster_roles_rt = _rt(scheme, "roles"), _rt(scheme, "clusterroles")
        self.rb_rt, self.crb_rt = _rt(scheme, "rolebindings"), _rt(scheme, "clusterrolebindings")
        self.roles = Mirror(backend, self.roles_rt.key_prefix)
        self.cluster_roles = Mirror(backend, self.cluster_roles_rt.key_prefix)
        self.rbs = Mirror(backend, self.rb_rt.key_prefix)
        self.crbs = Mirror(backend, self.crb_rt.key_prefix)
        self.mirrors = (self.roles, self.cluster_roles, self.rbs, self.crbs)
        self._rb_by_ns: dict[str, dict[str, Obj]] = {}
        self.rbs.listeners.append(self._index_rb)

    def _index_rb(self, key: str, new: Obj | None, old: Obj | None) -> None:
        ns = key[len(self.rb_rt.key_prefix):].split("/", 1)[0]
        if new is None:
            self._rb_by_ns.get(ns, {}).pop(key, None)
        else:
            self._rb_by_ns.setdefault(ns, {})[key] = new

    async def start(self) -> None:
        for m in self.mirrors:
            await m.start()

    async def stop(self) -> None:
        for m in self.mirrors:
            await m.stop()

    def cluster_role_bindings(self) -> Iterable[Obj]:
        return list(self.crbs.objects.values())

    def role_bindings(self, namespace: str) -> Iterable[Obj]:
        return list(self._rb_by_ns.get(namespace, {}).values())

    def cluster_role(self, name: str) -> Obj | None:
        return self.cluster_roles.objects.get(self.cluster_roles_rt.key(None, name))

    def role(self, namespace: str, name: str) -> Obj | None:
        return self.roles.objects.get(self.roles_rt.key(namespace, name))
