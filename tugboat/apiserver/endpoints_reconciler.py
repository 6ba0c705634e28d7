"""The lease endpoint reconciler: `default/kubernetes` lists every live API server.

Upstream (`--endpoint-reconciler-type=lease`, the default) each kube-apiserver keeps a record
under `/registry/masterleases/<ip>` with a TTL (15 s, refreshed every 10 s) and rewrites the
`default/kubernetes` Endpoints to the addresses of the unexpired records. Clients inside the
cluster, and here the node agents, learn all servers from it and fail over between them.

Differences, on purpose: our Backend has no TTL'd keys, so a record carries its expiry time
and any server drops expired ones; records are keyed by `<ip>:<port>` because test clusters run
several servers on one address (one Endpoints subset per port). A server stopping cleanly
removes its own record at once (upstream's RemoveEndpoints on shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from tugboat.api.errors import ApiError
from tugboat.store.backend import Backend, ConflictError, KeyExistsError, StoreError

log = logging.getLogger(__name__)
PREFIX = "/registry/masterleases/"
EXTRA_KEY = "endpoint-reconciler"  # in ctx.extras: _bootstrap leaves the Endpoints to us
TTL = 15.0  # upstream DefaultEndpointReconcilerTTL
INTERVAL = 10.0  # upstream DefaultEndpointReconcilerInterval


def endpoints_for(leases: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Endpoints subsets for (ip, port) pairs: one subset per port, addresses sorted."""
    by_port: dict[int, set[str]] = {}
    for ip, port in leases:
        by_port.setdefault(port, set()).add(ip)
    return [{"addresses": [{"ip": ip} for ip in sorted(ips)],
             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]} for port, ips in sorted(by_port.items())]


class LeaseEndpointReconciler:
    def __init__(self, server: Any, ip: str, port: int, *, ttl: float = TTL, interval: float = INTERVAL,
                 now: Callable[[], float] = time.time):
        self.server = server  # ApiServer: its registry writes the Endpoints (watchers see them)
        self.backend: Backend = server.ctx.registry.backend
        self.ip, self.port = ip, port
        self.ttl, self.interval, self.now = ttl, interval, now
        self._task: asyncio.Task[None] | None = None
        server.ctx.extras[EXTRA_KEY] = self

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.ip}:{self.port}"

    async def _put_lease(self) -> None:
        value = orjson.dumps({"ip": self.ip, "port": self.port, "expires": self.now() + self.ttl})
        for _ in range(3):
            kv = await self.backend.get(self.key)
            try:
                if kv is None:
                    await self.backend.create(self.key, value)
                else:
                    await self.backend.update(self.key, value, kv.mod_revision)
                return
            except (KeyExistsError, ConflictError):
                continue

    async def live(self) -> list[tuple[str, int]]:
        """Unexpired (ip, port) records; expired ones are deleted on the way."""
        out = []
        for kv in (await self.backend.list(PREFIX)).items:
            try:
                rec = orjson.loads(kv.value)
                alive = float(rec["expires"]) > self.now()
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                alive, rec = False, {}
            if alive:
                out.append((str(rec["ip"]), int(rec["port"])))
            else:
                with contextlib.suppress(StoreError):
                    await self.backend.delete(kv.key, kv.mod_revision)
        return out

    async def reconcile(self, *, remove_self: bool = False) -> list[tuple[str, int]]:
        if remove_self:
            with contextlib.suppress(StoreError):
                await self.backend.delete(self.key)
        else:
            await self._put_lease()
        leases = [lp for lp in await self.live() if not (remove_self and lp == (self.ip, self.port))]
        if leases:
            await self._write_endpoints(endpoints_for(leases))
        return leases

    async def _write_endpoints(self, subsets: list[dict[str, Any]]) -> None:
        from tugboat.apiserver.registry import WriteOpts

        reg = self.server.ctx.registry
        rt = self.server.scheme.get("", "v1", "endpoints")
        with contextlib.suppress(ApiError):
            if ((await reg.get(rt, "default", "kubernetes")).get("subsets") or []) == subsets:
                return
        ep = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": "kubernetes", "namespace": "default",
                           "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
              "subsets": subsets}
        try:
            await reg.update(rt, "default", "kubernetes", ep, WriteOpts(create_on_update=True))
        except ApiError as e:
            if e.code != 422:
                raise
            # Validation refuses loopback addresses (as upstream's): a cluster whose servers all
            # listen on 127.0.0.1 (one host, tests) still gets its list, written as storage does.
            await self._write_raw(reg, rt, ep)

    async def _write_raw(self, reg: Any, rt: Any, ep: dict[str, Any]) -> None:
        import uuid

        from tugboat.apiserver import codec
        from tugboat.util.clock import rfc3339

        key = reg.key(rt, "default", "kubernetes")
        kv = await self.backend.get(key)
        meta = ep["metadata"]
        if kv is None:
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339(self.now()))
            with contextlib.suppress(KeyExistsError):
                await self.backend.create(key, codec.encode(ep))
            return
        old = codec.decode(kv.value, kv.mod_revision).get("metadata") or {}
        meta.update(uid=old.get("uid") or str(uuid.uuid4()),
                    creationTimestamp=old.get("creationTimestamp") or rfc3339(self.now()))
        with contextlib.suppress(ConflictError):
            await self.backend.update(key, codec.encode(ep), kv.mod_revision)

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:  # noqa: BLE001 - the datastore may be briefly away; try again
                log.warning("endpoint reconciler: reconcile failed", exc_info=True)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        """Reconcile once (so `default/kubernetes` lists us before we report ready), then every interval."""
        with contextlib.suppress(Exception):
            await self.reconcile()
        self._task = asyncio.create_task(self._loop(), name="endpoint-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.reconcile(remove_self=True), 5)
