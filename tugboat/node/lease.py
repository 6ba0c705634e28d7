"""The node heartbeat: a coordination.k8s.io Lease in kube-node-lease renewed every 10 s.

Upstream splits the heartbeat from NodeStatus: the Lease is tiny and renewed often (duration
40 s), the Node status is only written on change or every 5 minutes. We renew with PUT of the
last Lease we wrote (no GET per renewal); on a conflict or a missing Lease we re-read or
re-create it. Failures retry with back-off 200 ms → 7 s like upstream. The first renewal of a
simulated node is delayed by a random fraction of the interval so that thousands of hollow
nodes spread their writes evenly instead of renewing in bursts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import ApiStatusError, Client, is_conflict, is_not_found
from tugboat.client.clock import AsyncClock, micro_time

log = logging.getLogger(__name__)
LEASE_NAMESPACE = "kube-node-lease"
_lt = default_scheme().by_kind("coordination.k8s.io", "v1", "Lease")
assert _lt is not None
LEASE: ResourceType = _lt


class LeaseRenewer:
    def __init__(self, client: Client, node_name: str, clock: AsyncClock, *, interval: float = 10.0,
                 duration: int = 40, jitter: bool = False):
        self.client = client
        self.node_name = node_name
        self.clock = clock
        self.interval = interval
        self.duration = duration
        self.jitter = jitter
        self.node_uid = ""
        self._lease: dict[str, Any] | None = None
        self.renewals = 0

    def _body(self) -> dict[str, Any]:
        md: dict[str, Any] = {"name": self.node_name, "namespace": LEASE_NAMESPACE}
        if self.node_uid:
            md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                      "uid": self.node_uid}]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md,
                "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": self.duration,
                         "renewTime": micro_time(self.clock.time())}}

    async def renew_once(self) -> None:
        now = micro_time(self.clock.time())
        if self._lease is not None:
            lease = self._lease
            lease["spec"]["renewTime"] = now
            lease["spec"]["holderIdentity"] = self.node_name
            lease["spec"]["leaseDurationSeconds"] = self.duration
            try:
                self._lease = await self.client.update(LEASE, lease, LEASE_NAMESPACE)
                self.renewals += 1
                return
            except ApiStatusError as e:
                self._lease = None
                if not (is_conflict(e) or is_not_found(e)):
                    raise
        try:
            cur = await self.client.get(LEASE, self.node_name, LEASE_NAMESPACE)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
            self._lease = await self.client.create(LEASE, self._body(), LEASE_NAMESPACE)
            self.renewals += 1
            return
        cur.setdefault("spec", {}).update(self._body()["spec"])
        if self.node_uid and not cur["metadata"].get("ownerReferences"):
            cur["metadata"]["ownerReferences"] = self._body()["metadata"]["ownerReferences"]
        self._lease = await self.client.update(LEASE, cur, LEASE_NAMESPACE)
        self.renewals += 1

    async def run(self) -> None:
        if self.jitter:
            await self.clock.sleep(random.random() * self.interval)
        retry = 0.2
        while True:
            try:
                await self.renew_once()
                retry = 0.2
                await self.clock.sleep(self.interval)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep heart-beating whatever happens
                log.warning("node %s: failed to renew lease: %s", self.node_name, e)
                await self.clock.sleep(retry)
                retry = min(retry * 2, 7.0)
