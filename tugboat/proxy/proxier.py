"""ServiceProxy: Services + EndpointSlices (informers) → iptables, level-triggered.

Every informer event only marks the state dirty. The sync loop then computes the WHOLE desired
rule set from the caches (per-Service fragments are cached by the resourceVersions of the
Service and its slices, so unchanged Services cost a dict lookup), diffs it against what it last
applied and sends only the changed chains in ONE `iptables-restore --noflush`. Syncs are at
least `min_sync_period` apart (upstream's --iptables-min-sync-period, default 1 s), so a burst
of endpoint changes is one restore.

Every `resync_period` (30 s, upstream's --iptables-sync-period), when no sync is pending, the
proxy reads the live rules back and, if a chain of ours is missing or has the wrong number of
rules, or a jump from a built-in chain is gone (someone ran `iptables -F`), rewrites
everything. The check reads only the fixed and built-in chains (`iptables -S`, cheap at any
size); every 10th check compares every chain from one `iptables-save` (seconds at 30 000
rules). A failed restore also forces a full rewrite on the next attempt. `stop()` deletes every chain
and jump the proxy owns and the host routes it added.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.proxy import names
from tugboat.proxy.hostnet import HostNetwork
from tugboat.proxy.iptables import Host, drift, render, render_cleanup
from tugboat.proxy.model import port_endpoints, service_ports
from tugboat.proxy.rules import Fragment, RuleConfig, Ruleset, assemble, service_fragment

log = logging.getLogger(__name__)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_scheme = default_scheme()


def _rt(group: str, plural: str) -> ResourceType:
    rt = _scheme.get(group, "v1", plural)
    assert rt is not None
    return rt


SERVICES = _rt("", "services")
SLICES = _rt("discovery.k8s.io", "endpointslices")
NODES = _rt("", "nodes")


@dataclass
class ProxyConfig:
    node_name: str = ""
    service_cidr: str = "10.96.0.0/12"
    cluster_cidr: str = "10.244.0.0/16"
    netns: str | None = None  # run iptables/ip in this named netns (tests, several nodes per host)
    min_sync_period: float = 1.0
    resync_period: float = 30.0
    localhost_nodeports: bool = True
    masquerade_all: bool = False
    host_routes: bool = True  # the unreachable route for the service CIDR (+ host VIP access)
    servicelb: bool = True  # fill status.loadBalancer of type=LoadBalancer Services (k3s ServiceLB)


@dataclass
class SyncResult:
    full: bool
    chains_written: int
    duration: float  # seconds, compute + restore
    restore_bytes: int
    finished_at: float = field(default_factory=time.monotonic)


def _slice_service(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace')}/{svc}"] if svc else []


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class ServiceProxy:
    def __init__(self, client: Client, config: ProxyConfig, informers: InformerFactory | None = None):
        self.client = client
        self.config = config
        self.informers = informers or InformerFactory(client)
        self._own_informers = informers is None
        self.host = Host(config.netns)
        self.rule_config = RuleConfig(node_name=config.node_name, cluster_cidr=config.cluster_cidr,
                                      masquerade_all=config.masquerade_all,
                                      localhost_nodeports=config.localhost_nodeports,
                                      service_cidr=config.service_cidr if config.host_routes else "")
        self.jumps = names.jump_rules(config.localhost_nodeports)
        self.hostnet = HostNetwork(self.host, config.service_cidr, localhost_nodeports=config.localhost_nodeports)
        self.applied: Ruleset = {}
        self.listeners: list[Callable[[SyncResult], Any]] = []
        self.last_sync: SyncResult | None = None
        self.sync_count = 0
        self._cache: dict[str, tuple[tuple[str, ...], list[Fragment]]] = {}
        self._dirty = asyncio.Event()
        self._need_full = True
        self._task: asyncio.Task[None] | None = None
        self._servicelb: Any = None
        self._lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.host_routes:
            await self.hostnet.setup()
        self.services = self.informers.informer(SERVICES)
        self.slices = self.informers.informer(SLICES, indexers={"service": _slice_service})
        for inf in (self.services, self.slices):
            inf.add_event_handler(on_add=self._kick, on_update=lambda _o, _n: self._kick(),
                                  on_delete=self._kick)
        if self.config.servicelb:
            from tugboat.proxy.servicelb import ServiceLB

            self._servicelb = ServiceLB(self.client, self.informers)
            self._servicelb.setup()
        self.informers.start()
        await self.informers.wait_for_sync()
        await self.sync(full=True)
        self._task = asyncio.create_task(self._run(), name="service-proxy")
        if self._servicelb is not None:
            self._servicelb.start()

    async def stop(self, cleanup: bool = True) -> None:
        """Stop syncing; with cleanup (default) remove every chain, jump and route we created."""
        if self._servicelb is not None:
            await self._servicelb.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_informers:
            await self.informers.stop()
        if cleanup:
            async with self._lock:
                await cleanup_rules(self.host)
                self.applied = {}
            await self.hostnet.teardown()

    def _kick(self, *_: Any) -> None:
        self._dirty.set()

    # -- sync loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self.config.resync_period
        checks = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), max(0.0, next_check - loop.time()))
            try:
                if self._dirty.is_set() or self._need_full:
                    if self.last_sync is not None:
                        wait = self.last_sync.finished_at + self.config.min_sync_period - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)
                    self._dirty.clear()
                    await self.sync()
                elif loop.time() >= next_check:  # idle: look at the live rules
                    next_check = loop.time() + self.config.resync_period
                    checks += 1
                    await self.check(thorough=checks % 10 == 0)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep proxying; retry with a full sync
                log.exception("service proxy sync failed; retrying")
                self._need_full = True
                await asyncio.sleep(1.0)

    async def check(self, thorough: bool = False) -> list[str]:
        """Compare the live rules with what we applied; schedule a full rewrite on any drift.
        Quick: the fixed chains and the built-in chains' jumps. Thorough (every 10th check):
        every chain, from one iptables-save."""
        if thorough:
            saved = await self.host.save()
            applied = self.applied
        else:
            fixed = {k for k in self.applied if k[1] in names.NAT_BASE + names.FILTER_BASE}
            builtin = {(t, c) for t, c, _ in self.jumps}
            saved = await self.host.save_chains(sorted(fixed | builtin))
            applied = {k: v for k, v in self.applied.items() if k in fixed}
        problems = drift(applied, saved, self.jumps)
        if problems:
            log.warning("iptables rules changed behind our back (%s); rewriting all", "; ".join(problems[:3]))
            self._need_full = True
            self._dirty.set()
        return problems

    def desired(self) -> Ruleset:
        """The complete rule set for the current caches."""
        frags: list[Fragment] = []
        live: dict[str, tuple[tuple[str, ...], list[Fragment]]] = {}
        for svc in sorted(self.services.lister.list(), key=_svc_key):
            key = _svc_key(svc)
            slices = self.slices.lister.by_index("service", key)
            fp = (_rv(svc), *sorted(_rv(s) for s in slices))
            hit = self._cache.get(key)
            if hit is None or hit[0] != fp:
                hit = (fp, [service_fragment(sp, port_endpoints(sp, slices), self.rule_config)
                            for sp in service_ports(svc)])
            live[key] = hit
            frags.extend(hit[1])
        self._cache = live
        return assemble(frags, self.rule_config)

    async def sync(self, full: bool = False) -> SyncResult:
        async with self._lock:
            t0 = time.monotonic()
            self._need_full = self._need_full or full
            desired = self.desired()
            saved = await self.host.save() if self._need_full else None
            payload = render(desired, self.applied, full=self._need_full, saved=saved, jumps=self.jumps)
            if payload:
                try:
                    await self.host.restore(payload)
                except Exception:
                    self._need_full = True
                    raise
            result = SyncResult(self._need_full, payload.count("\n:"), time.monotonic() - t0, len(payload))
            self.applied = desired
            self._need_full = False
            self.last_sync = result
            self.sync_count += 1
        for fn in list(self.listeners):
            fn(result)
        return result


def _svc_key(svc: dict[str, Any]) -> str:
    meta = svc.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


async def cleanup_rules(host: Host | None = None) -> bool:
    """Remove every TUGBOAT service-proxy chain and jump (`tug proxy --cleanup`). True if any."""
    host = host or Host()
    payload = render_cleanup(await host.save())
    if payload:
        await host.restore(payload)
    return bool(payload)
