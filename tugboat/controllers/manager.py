"""The controller manager: build the enabled controllers, start shared informers, run them.

Why one manager: all controllers share one client and one informer per resource (one
watch per resource, not one per controller), and `--controllers` selects which run,
upstream-style (`["*", "-foo"]`: every default-enabled controller but foo; `bar` enables
one that is off by default). With leader election (Lease kube-system/kube-controller-manager)
several managers can run and only the lease holder acts; a manager that loses the lease
stops its controllers before anyone else can take over (the elector's renew deadline is
shorter than the lease), then competes again with freshly built controllers and caches.

With `service_account_clients` (upstream's `--use-service-account-credentials`, what `tug
components` does by default) each controller's `ctx.client` — and its event recorders — are
authenticated as its own service account kube-system/<sa> (_sa_clients.py); the informers and
the leader election stay on the manager's own client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import uuid
from typing import Any

from tugboat.client import Client, InformerFactory, LeaderElectionConfig, LeaderElector, load_kubeconfig
from tugboat.controllers._sa_clients import SERVICE_ACCOUNTS, ServiceAccountClients
from tugboat.controllers.base import BaseController, ControllerContext, registered

log = logging.getLogger(__name__)
LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


def is_enabled(name: str, default_enabled: bool, selection: list[str]) -> bool:
    """upstream IsControllerEnabled: the first explicit mention wins, else `*` means default."""
    star = False
    for s in selection:
        if s == name:
            return True
        if s == f"-{name}":
            return False
        if s == "*":
            star = True
    return star and default_enabled


def select_controllers(enabled: list[str] | None) -> list[str]:
    """Names of the registered controllers that `enabled` selects (ValueError on unknown names)."""
    reg = registered()
    selection = list(enabled) if enabled is not None else ["*"]
    for s in selection:
        n = s[1:] if s.startswith("-") else s
        if n != "*" and n not in reg:
            raise ValueError(f"{n!r} is not in the list of known controllers: {sorted(reg)}")
    out = []
    for name, factory in sorted(reg.items()):
        default = bool(getattr(factory, "default_enabled", True))
        if is_enabled(name, default, selection):
            out.append(name)
    return out


class ControllerManager:
    def __init__(self, ctx: ControllerContext, enabled: list[str] | None = None, *, leader_elect: bool = False,
                 identity: str | None = None, lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 retry_period: float = 2.0, sync_timeout: float = 60.0,
                 service_account_clients: ServiceAccountClients | None = None):
        self.ctx = ctx
        self.sa_clients = service_account_clients
        self._contexts: list[ControllerContext] = []
        self.names = select_controllers(enabled)
        self.leader_elect = leader_elect
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.lease = (lease_duration, renew_deadline, retry_period)
        self.sync_timeout = sync_timeout
        self.controllers: dict[str, BaseController] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._terms = 0
        self._elector: asyncio.Future[None] | None = None
        self._stopped = asyncio.Event()
        self.running = asyncio.Event()  # set while controllers are running (tests wait on it)

    # -- one term of running ----------------------------------------------------------------------

    async def start(self) -> None:
        """Build and set up the controllers, start informers, wait for caches, run workers."""
        if self._terms:  # a new term after losing the lease: fresh caches and queues
            self.ctx = dataclasses.replace(self.ctx, informers=InformerFactory(self.ctx.client))
        self._terms += 1
        reg = registered()
        self.controllers = {n: reg[n](await self._context_for(n)) for n in self.names}
        for c in self.controllers.values():
            c.setup()
        self.ctx.informers.start()
        if not await self.ctx.informers.wait_for_sync(self.sync_timeout):
            log.warning("controller manager: informer caches not synced after %.0fs; starting anyway",
                        self.sync_timeout)
        self._tasks = [asyncio.create_task(c.run(), name=f"controller-{n}") for n, c in self.controllers.items()]
        self.running.set()
        log.info("controller manager: started %s", ", ".join(self.controllers))

    async def _context_for(self, name: str) -> ControllerContext:
        """The context a controller gets: the shared one, or one whose client is its service account."""
        sa = SERVICE_ACCOUNTS.get(name)
        if self.sa_clients is None:
            return self.ctx
        if sa is None:
            log.warning("controller %s has no service account: it runs with the manager's credentials", name)
            return self.ctx
        ctx = dataclasses.replace(self.ctx, client=await self.sa_clients.client_for(sa), _recorders={})
        self._contexts.append(ctx)
        return ctx

    async def stop(self) -> None:
        """Stop the controllers' workers and the informers (idempotent)."""
        self._stopped.set()
        await self._stop_term()
        if self._elector is not None and not self._elector.done():
            self._elector.cancel()  # releases the lease so a standby takes over at once
            await asyncio.gather(self._elector, return_exceptions=True)

    async def _stop_term(self) -> None:
        self.running.clear()
        await asyncio.gather(*(c.stop() for c in self.controllers.values()), return_exceptions=True)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.ctx.informers.stop()
        for ctx in (self.ctx, *self._contexts):
            for rec in list(ctx._recorders.values()):
                await rec.flush()
        self._contexts = []

    async def _lead(self) -> None:
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._stop_term()

    # -- the whole life ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()` or cancellation; with leader election only while holding the lease."""
        if not self.leader_elect:
            try:
                await self._lead()
            finally:
                await self._stop_term()
            return
        lease_duration, renew_deadline, retry_period = self.lease
        while not self._stopped.is_set():
            cfg = LeaderElectionConfig(name=LEASE_NAME, namespace=LEASE_NAMESPACE, identity=self.identity,
                                       lease_duration=lease_duration, renew_deadline=renew_deadline,
                                       retry_period=retry_period, on_started_leading=self._lead)
            elector = LeaderElector(self.ctx.client, cfg, clock=self.ctx.clock)
            self._elector = asyncio.ensure_future(elector.run())
            try:
                await self._elector
            except asyncio.CancelledError:
                if not self._stopped.is_set():
                    raise
                return
            if not self._stopped.is_set():
                log.warning("controller manager %s: leader election lost; restarting", self.identity)


async def run_controller_manager(kubeconfig_path: str | os.PathLike[str], *, controllers: list[str] | None = None,
                                 leader_elect: bool = True, options: dict[str, dict[str, Any]] | None = None,
                                 qps: float = 200.0, burst: int = 400, use_service_account_credentials: bool = True,
                                 **manager_opts: Any) -> None:
    """`tug controller-manager`: run until cancelled. `options` go to ControllerContext.options.

    With service-account credentials each controller gets its own client (upstream: 20 qps,
    burst 30 each; here `qps`/`burst` each, so a ReplicaSet creating pods is not throttled by the
    events it records). Without, all controllers share the manager's client and identity, which
    then needs the union of their permissions (`system:tugboat:controller-manager`)."""
    client = Client(load_kubeconfig(kubeconfig_path), component="kube-controller-manager", qps=qps, burst=burst)
    ctx = ControllerContext(client, InformerFactory(client), options=options or {})
    sa_clients = ServiceAccountClients(client, qps=qps, burst=burst) if use_service_account_credentials else None
    mgr = ControllerManager(ctx, controllers, leader_elect=leader_elect, service_account_clients=sa_clients,
                            **manager_opts)
    try:
        await mgr.run()
    finally:
        await mgr.stop()
        if sa_clients is not None:
            await sa_clients.close()
        await client.close()
