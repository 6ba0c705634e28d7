"""Registers the Node and keeps its status current (upstream's kubelet_node_status).

The Node object carries what the scheduler needs (capacity, allocatable, labels, taints) and
what `kubectl get/describe node` shows (conditions, addresses, nodeInfo). It is written with a
strategic-merge PATCH of `nodes/<name>/status` (conditions merge by type, so conditions other
components own survive) when something changed, and at least every 5 minutes otherwise; the
frequent heartbeat is the Lease. A 404 on the status patch means the Node was deleted: it is
registered again.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import ApiStatusError, Client, is_already_exists, is_not_found
from tugboat.client.clock import AsyncClock
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
_nt = default_scheme().by_kind("", "v1", "Node")
assert _nt is not None
NODE: ResourceType = _nt

# (type, status when healthy, reason, message) as upstream's kubelet reports them
HEALTHY_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


class NodeStatusManager:
    def __init__(self, client: Client, node_name: str, clock: AsyncClock, *, capacity: dict[str, str],
                 allocatable: dict[str, str], labels: dict[str, str], taints: list[dict[str, Any]],
                 addresses: list[dict[str, str]], node_info: dict[str, Any], report_interval: float = 300.0):
        self.client = client
        self.node_name = node_name
        self.clock = clock
        self.capacity = capacity
        self.allocatable = allocatable
        self.labels = labels
        self.taints = taints
        self.addresses = addresses
        self.node_info = node_info
        self.report_interval = report_interval
        self.kubelet_port = 10250  # the agent server's port (node/server), set before register()
        self.node_uid = ""
        self._conditions: dict[str, dict[str, Any]] = {}
        self._last_fingerprint = b""
        self._last_post = -1e18
        self.posts = 0

    def node_object(self) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if self.taints:
            spec["taints"] = self.taints
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node_name, "labels": dict(self.labels)},
                "spec": spec, "status": self.status()}

    def conditions(self) -> list[dict[str, Any]]:
        now = rfc3339(self.clock.time())
        out = []
        for typ, status, reason, msg in HEALTHY_CONDITIONS:
            prev = self._conditions.get(typ)
            transition = prev["lastTransitionTime"] if prev and prev["status"] == status else now
            cond = {"type": typ, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": transition,
                    "reason": reason, "message": msg}
            self._conditions[typ] = cond
            out.append(cond)
        return out

    def status(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "allocatable": self.allocatable, "conditions": self.conditions(),
                "addresses": self.addresses, "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
                "nodeInfo": self.node_info}

    def _fingerprint(self) -> bytes:
        conds = [(c["type"], c["status"], c["reason"]) for c in self._conditions.values()]
        return orjson.dumps([self.capacity, self.allocatable, self.addresses, self.node_info, conds],
                            option=orjson.OPT_SORT_KEYS)

    async def register(self) -> dict[str, Any]:
        try:
            node = await self.client.create(NODE, self.node_object())
        except ApiStatusError as e:
            if not is_already_exists(e):
                raise
            node = await self.client.get(NODE, self.node_name)
            missing = {k: v for k, v in self.labels.items() if (node["metadata"].get("labels") or {}).get(k) != v}
            if missing:
                node = await self.client.patch(NODE, self.node_name, {"metadata": {"labels": missing}})
            node = await self._post_status(force=True) or node
        self.node_uid = node["metadata"].get("uid", "")
        self._last_post = self.clock.monotonic()
        self._last_fingerprint = self._fingerprint()
        self.posts += 1
        return node

    async def _post_status(self, force: bool = False) -> dict[str, Any] | None:
        body = {"status": self.status()}
        try:
            return await self.client.patch(NODE, self.node_name, body, patch_type="strategic",
                                           subresource="status")
        except ApiStatusError as e:
            if is_not_found(e):
                log.warning("node %s was deleted: registering it again", self.node_name)
                return await self.register()
            raise

    def mark_stale(self) -> None:
        """The Node in the API differs from what we posted: post at the next sync."""
        self._last_fingerprint = b""

    async def sync(self) -> bool:
        """Post status if it changed or the report interval passed; True when posted."""
        self.conditions()
        fp = self._fingerprint()
        if fp == self._last_fingerprint and self.clock.monotonic() - self._last_post < self.report_interval:
            return False
        await self._post_status()
        self._last_fingerprint = fp
        self._last_post = self.clock.monotonic()
        self.posts += 1
        return True
