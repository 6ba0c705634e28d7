"""Leader election on a coordination.k8s.io/v1 Lease, like client-go's leaderelection.

Several replicas of a controller manager or scheduler may run; only the holder of the Lease
acts. The record is the Lease spec: holderIdentity, leaseDurationSeconds, acquireTime,
renewTime (MicroTime), leaseTransitions. Writes use the Lease's resourceVersion, so two
candidates can never both win a round (the loser gets 409 Conflict).

A candidate may take the lease when it is free (no holder — released) or when the record has
not changed for leaseDurationSeconds *as observed on our own clock* (never by comparing the
holder's renewTime with our wall time: clocks differ across hosts). The leader renews every
retry_period; if it cannot renew within renew_deadline it stops leading (on_stopped_leading)
before the lease can expire, so two leaders never overlap by design. On cancellation a leader
releases the lease (empty holder, leaseDurationSeconds=1) so a successor takes over at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client.clock import AsyncClock, RealClock, micro_time
from tugboat.client.errors import ApiStatusError, is_not_found
from tugboat.client.rest import Client

log = logging.getLogger(__name__)
_rt = default_scheme().by_kind("coordination.k8s.io", "v1", "Lease")
assert _rt is not None
LEASE: ResourceType = _rt
JITTER = 1.2  # client-go's JitterFactor for retry_period


@dataclass
class LeaderElectionConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True
    on_started_leading: Callable[[], Any] | None = None  # may be async; cancelled when leadership ends
    on_stopped_leading: Callable[[], Any] | None = None
    on_new_leader: Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        if not (self.lease_duration > self.renew_deadline > JITTER * self.retry_period > 0):
            raise ValueError("need lease_duration > renew_deadline > 1.2 * retry_period > 0")


class LeaderElector:
    def __init__(self, client: Client, config: LeaderElectionConfig, clock: AsyncClock | None = None):
        self.client = client
        self.cfg = config
        self.clock: AsyncClock = clock or RealClock()
        self._observed: dict[str, Any] | None = None  # last seen spec
        self._observed_rv: str | None = None
        self._observed_time = 0.0  # our monotonic time when the spec last changed
        self._leader = ""
        self.is_leader = False

    @property
    def leader(self) -> str:
        """Identity of the last observed holder ("" if none)."""
        return self._leader

    async def run(self) -> None:
        """Acquire, lead until renewal fails or we are cancelled, then return."""
        work: asyncio.Task[Any] | None = None
        try:
            await self._acquire()
            self.is_leader = True
            if self.cfg.on_started_leading:
                res = self.cfg.on_started_leading()
                if inspect.isawaitable(res):
                    work = asyncio.ensure_future(res)
            await self._renew_loop()
        finally:
            was_leader = self.is_leader
            self.is_leader = False
            if work is not None:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            if was_leader:
                if self.cfg.release_on_cancel:
                    await asyncio.shield(self._release())
                if self.cfg.on_stopped_leading:
                    self.cfg.on_stopped_leading()

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                log.info("%s: acquired lease %s/%s", self.cfg.identity, self.cfg.namespace, self.cfg.name)
                return
            await self.clock.sleep(self.cfg.retry_period * (1 + random.random() * (JITTER - 1)))

    async def _renew_loop(self) -> None:
        while True:
            deadline = self.clock.monotonic() + self.cfg.renew_deadline
            while True:
                try:
                    ok = await asyncio.wait_for(self._try_acquire_or_renew(),
                                                max(0.01, deadline - self.clock.monotonic()))
                except TimeoutError:
                    ok = False
                if ok:
                    break
                if self.clock.monotonic() + self.cfg.retry_period >= deadline:
                    log.warning("%s: failed to renew lease %s/%s; stopping leading", self.cfg.identity,
                                self.cfg.namespace, self.cfg.name)
                    return
                await self.clock.sleep(self.cfg.retry_period)
            await self.clock.sleep(self.cfg.retry_period)

    def _record(self, now: float, old: dict[str, Any] | None) -> dict[str, Any]:
        ts = micro_time(now)
        spec: dict[str, Any] = {"holderIdentity": self.cfg.identity, "leaseDurationSeconds": max(1, int(self.cfg.lease_duration)),
                "acquireTime": ts, "renewTime": ts, "leaseTransitions": 0}
        if old:
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0)
            if old.get("holderIdentity") == self.cfg.identity:
                spec["acquireTime"] = old.get("acquireTime") or ts
            else:
                spec["leaseTransitions"] += 1
        return spec

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        if spec != self._observed:
            self._observed = spec
            self._observed_time = self.clock.monotonic()
            holder = spec.get("holderIdentity") or ""
            if holder != self._leader:
                self._leader = holder
                if holder and self.cfg.on_new_leader:
                    self.cfg.on_new_leader(holder)
        self._observed_rv = (lease.get("metadata") or {}).get("resourceVersion")

    async def _try_acquire_or_renew(self) -> bool:
        now = self.clock.time()
        try:
            lease = await self.client.get(LEASE, self.cfg.name, self.cfg.namespace)
        except ApiStatusError as e:
            if not is_not_found(e):
                log.warning("%s: error getting lease: %s", self.cfg.identity, e)
                return False
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.cfg.name, "namespace": self.cfg.namespace},
                    "spec": self._record(now, None)}
            try:
                self._observe(await self.client.create(LEASE, body, self.cfg.namespace))
            except ApiStatusError as e2:
                log.info("%s: error creating lease: %s", self.cfg.identity, e2)
                return False
            return True
        except Exception as e:  # noqa: BLE001 - network trouble counts as a failed round
            log.warning("%s: error getting lease: %s", self.cfg.identity, e)
            return False
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.cfg.lease_duration)
        if holder and holder != self.cfg.identity and self._observed_time + duration > self.clock.monotonic():
            return False  # held by someone else and not yet expired
        new = dict(lease)
        new["spec"] = {**spec, **self._record(now, spec)}
        try:
            self._observe(await self.client.update(LEASE, new, self.cfg.namespace))
        except ApiStatusError as e:
            log.info("%s: error updating lease: %s", self.cfg.identity, e)
            return False
        except Exception as e:  # noqa: BLE001
            log.warning("%s: error updating lease: %s", self.cfg.identity, e)
            return False
        return True

    async def _release(self) -> None:
        try:
            lease = await self.client.get(LEASE, self.cfg.name, self.cfg.namespace)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.cfg.identity:
                return
            ts = micro_time(self.clock.time())
            lease["spec"] = {"leaseDurationSeconds": 1, "acquireTime": ts, "renewTime": ts,
                             "leaseTransitions": spec.get("leaseTransitions") or 0}
            await self.client.update(LEASE, lease, self.cfg.namespace)
            log.info("%s: released lease %s/%s", self.cfg.identity, self.cfg.namespace, self.cfg.name)
        except Exception as e:  # noqa: BLE001 - best effort; the lease expires anyway
            log.warning("%s: failed to release lease: %s", self.cfg.identity, e)
