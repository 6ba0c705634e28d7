"""Node lifecycle: decide from heartbeats whether a node is alive, and taint it accordingly.

Why: the scheduler and the taint eviction controller only look at taints. This controller is
what turns "the kubelet went silent" into `Ready=Unknown` plus a `node.kubernetes.io/
unreachable:NoExecute` taint (and "the kubelet says NotReady" into `not-ready:NoExecute`),
so that pods move elsewhere after their tolerationSeconds. Upstream 1.32 behaviour:

* Every `node_monitor_period` (5 s) look at every node. A node is healthy while its Lease in
  `kube-node-lease` or its Ready condition heartbeat changed within `node_monitor_grace_period`
  (50 s; 60 s startup grace for a node that never posted Ready). We time *our observation* of
  a change, not the timestamps the kubelet wrote, so clock skew does not matter.
* Past the grace period Ready/MemoryPressure/DiskPressure/PIDPressure become Unknown with
  reason `NodeStatusUnknown` ("Kubelet stopped posting node status.").
* NoExecute taints are added at `node_eviction_rate` nodes/s per zone (0.01/s, or 0 in small
  clusters, when >= 55 % of a zone is unhealthy), and not at all when every node in every zone
  is unhealthy (then they are removed: the control plane is likelier the problem). They are
  removed as soon as the node is Ready again.
* NoSchedule taints mirror conditions (TaintNodesByCondition) and spec.unschedulable.
* Pods on a node that is not Ready get their Ready condition set to False, so endpoints drop them.

Options are settable per cluster (fast failover): pass `options=NodeLifecycleOptions(...)`
or set `ctx.options["node-lifecycle-controller"]` to a dict of the same fields.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from tugboat.client import Controller, WorkQueue, copy_obj, deleted_object, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers import nodelifecycle_taints as nt
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
MONITOR_KEY = "\x00monitor"
NODE_NAME_INDEX = nt.NODE_NAME_INDEX
node_name_index = nt.node_name_index


@dataclass
class NodeLifecycleOptions:
    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 50.0
    node_startup_grace_period: float = 60.0
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55

    @classmethod
    def from_ctx(cls, ctx: ControllerContext, name: str) -> NodeLifecycleOptions:
        raw = (getattr(ctx, "options", None) or {}).get(name) or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k.replace("-", "_"): v for k, v in raw.items() if k.replace("-", "_") in known})


@dataclass
class _Health:
    probe: float  # clock time we last saw the kubelet alive
    heartbeat: str | None
    renew: str | None
    ready: str


class _ZoneLimiter:
    """A token bucket (burst 1) whose rate changes with the zone's state; rate 0 = never."""

    def __init__(self, qps: float):
        self.qps = qps
        self.tokens = 1.0
        self.last: float | None = None

    def set_rate(self, qps: float) -> None:
        self.qps = qps

    def try_take(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        if self.last is not None:
            self.tokens = min(1.0, self.tokens + (now - self.last) * self.qps)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@register
class NodeLifecycleController(BaseController):
    name = "node-lifecycle-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext, options: NodeLifecycleOptions | None = None):
        super().__init__(ctx)
        self.loop = Controller(self.name, self.reconcile, workers=self.workers,
                               queue=WorkQueue(self.name, clock=ctx.clock))
        self.opts = options or NodeLifecycleOptions.from_ctx(ctx, self.name)
        self.health: dict[str, _Health] = {}
        self.zones: dict[str, _ZoneLimiter] = {}
        self.all_disrupted = False
        self.passes = 0  # completed health passes (tests wait on it)
        self.nodes_rt = ctx.rt("", "v1", "nodes")
        self.pods_rt = ctx.rt("", "v1", "pods")
        self.events = ctx.recorder("node-controller")

    def setup(self) -> None:
        self.nodes = self.ctx.informers.informer(self.nodes_rt)
        self.nodes.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                     on_delete=lambda o: self.enqueue(deleted_object(o)))
        self.leases = self.ctx.informers.informer(self.ctx.rt("coordination.k8s.io", "v1", "leases"),
                                                  namespace="kube-node-lease")
        self.pods = self.ctx.informers.informer(self.pods_rt, indexers={NODE_NAME_INDEX: node_name_index})
        self.enqueue_key(MONITOR_KEY)

    async def reconcile(self, key: str) -> float | None:
        if key == MONITOR_KEY:
            try:
                await self.monitor()
            finally:
                self.passes += 1
            return self.opts.node_monitor_period
        await self.sync_node_taints(key)
        return None

    # -- per node: NoSchedule taints from conditions (TaintNodesByCondition) --------------------

    async def sync_node_taints(self, name: str) -> None:
        node = self.nodes.lister.get(name)
        if node is None:
            self.health.pop(name, None)
            return
        want = nt.condition_no_schedule_keys(node)
        cur = nt.taints(node)
        have = {t.get("key") for t in cur if t.get("effect") == nt.NO_SCHEDULE and t.get("key") in nt.NO_SCHEDULE_KEYS}
        drop_noexec = nt.ready_status(node) == "True" and any(
            t.get("effect") == nt.NO_EXECUTE and t.get("key") in nt.NO_EXECUTE_KEYS for t in cur)
        if have == want and not drop_noexec:
            return
        new = [t for t in cur if not (t.get("effect") == nt.NO_SCHEDULE and t.get("key") in nt.NO_SCHEDULE_KEYS
                                      and t.get("key") not in want)]
        if drop_noexec:
            new = [t for t in new if not (t.get("effect") == nt.NO_EXECUTE and t.get("key") in nt.NO_EXECUTE_KEYS)]
        new += [{"key": k, "effect": nt.NO_SCHEDULE} for k in sorted(want - have)]
        await self._set_taints(node, new)

    async def _set_taints(self, node: Obj, new_taints: list[Obj]) -> Obj:
        body = copy_obj(node)
        spec = body.setdefault("spec", {})
        if new_taints:
            spec["taints"] = new_taints
        else:
            spec.pop("taints", None)
        return await self.client.update(self.nodes_rt, body)

    # -- the periodic health pass ---------------------------------------------------------------

    async def monitor(self) -> None:
        now = self.ctx.clock.time()
        nodes = self.nodes.lister.list()
        live = {n["metadata"]["name"] for n in nodes}
        for gone in [n for n in self.health if n not in live]:
            del self.health[gone]
        observed: list[tuple[Obj, str]] = []
        counts: dict[str, list[int]] = {}
        for node in nodes:
            try:
                node = await self._update_health(node, now)
            except ApiStatusError as e:
                if is_not_found(e):
                    continue
                raise
            st = nt.ready_status(node)
            observed.append((node, st))
            c = counts.setdefault(nt.zone_of(node), [0, 0])
            c[0 if st == "True" else 1] += 1
        states = {z: nt.zone_state(r, u, self.opts.unhealthy_zone_threshold) for z, (r, u) in counts.items()}
        if states and all(s == nt.ZONE_FULL for s in states.values()):
            if not self.all_disrupted:
                log.warning("all nodes are not-Ready: entering master disruption mode, no evictions")
            self.all_disrupted = True
            for node, _ in observed:
                await self._mark_reachable(node)
            return
        if self.all_disrupted:
            log.info("some nodes are Ready again: leaving master disruption mode")
            self.all_disrupted = False
            for h in self.health.values():
                h.probe = now
        for z, s in states.items():
            self._zone(z).set_rate(self._rate(s, sum(counts[z])))
        for node, st in observed:
            if st == "True":
                await self._mark_reachable(node)
            else:
                await self._taint_unhealthy(node, st, now)
                await self._mark_pods_not_ready(node)

    def _zone(self, z: str) -> _ZoneLimiter:
        if z not in self.zones:
            self.zones[z] = _ZoneLimiter(self.opts.node_eviction_rate)
        return self.zones[z]

    def _rate(self, state: str, size: int) -> float:
        if state == nt.ZONE_PARTIAL:
            return self.opts.secondary_node_eviction_rate if size > self.opts.large_cluster_size_threshold else 0.0
        return self.opts.node_eviction_rate

    async def _update_health(self, node: Obj, now: float) -> Obj:
        name = node["metadata"]["name"]
        ready = nt.condition(node, "Ready")
        hb = (ready or {}).get("lastHeartbeatTime")
        lease = self.leases.lister.get(name, "kube-node-lease")
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        st = nt.ready_status(node)
        h = self.health.get(name)
        if h is None:
            h = self.health[name] = _Health(now, hb, renew, st)
        else:
            if hb != h.heartbeat:
                h.probe, h.heartbeat = now, hb
            if renew and renew != h.renew and (h.renew is None or renew > h.renew):
                h.probe, h.renew = now, renew
        if h.ready == "True" and st != "True":
            self.events.emit(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        h.ready = st
        grace = self.opts.node_startup_grace_period if ready is None else self.opts.node_monitor_grace_period
        if now <= h.probe + grace:
            return node
        body = copy_obj(node)
        conds = body.setdefault("status", {}).setdefault("conditions", [])
        changed = False
        stamp = rfc3339(now)
        for ctype in nt.MONITORED_CONDITIONS:
            c = next((c for c in conds if c.get("type") == ctype), None)
            if c is None:
                conds.append({"type": ctype, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                              "message": "Kubelet never posted node status.",
                              "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                              "lastTransitionTime": stamp})
                changed = True
            elif c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                         lastTransitionTime=stamp)
                changed = True
        if not changed:
            return node
        updated = await self.client.update_status(self.nodes_rt, body)
        if h.ready == "True":
            self.events.emit(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        h.ready = nt.ready_status(updated)
        return updated

    async def _mark_reachable(self, node: Obj) -> None:
        cur = nt.taints(node)
        new = [t for t in cur if not (t.get("effect") == nt.NO_EXECUTE and t.get("key") in nt.NO_EXECUTE_KEYS)]
        if len(new) != len(cur):
            await self._set_taints(node, new)

    async def _taint_unhealthy(self, node: Obj, st: str, now: float) -> None:
        want = nt.TAINT_NOT_READY if st == "False" else nt.TAINT_UNREACHABLE
        other = nt.TAINT_UNREACHABLE if want == nt.TAINT_NOT_READY else nt.TAINT_NOT_READY
        cur = nt.taints(node)
        keys = {t.get("key") for t in cur if t.get("effect") == nt.NO_EXECUTE}
        if want in keys and other not in keys:
            return
        if want not in keys and other not in keys and not self._zone(nt.zone_of(node)).try_take(now):
            return  # rate limited: retried on the next pass
        new = [t for t in cur if not (t.get("effect") == nt.NO_EXECUTE and t.get("key") in nt.NO_EXECUTE_KEYS)]
        if want in keys:
            new += [t for t in cur if t.get("effect") == nt.NO_EXECUTE and t.get("key") == want]
        else:
            new.append({"key": want, "effect": nt.NO_EXECUTE, "timeAdded": rfc3339(now)})
        await self._set_taints(node, new)

    async def _mark_pods_not_ready(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        stamp = rfc3339(self.ctx.clock.time())
        for pod in self.pods.lister.by_index(NODE_NAME_INDEX, name):
            c = nt.condition(pod, "Ready")
            if c is None or c.get("status") == "False":
                continue
            meta = pod["metadata"]
            patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": stamp}]}}
            try:
                await self.client.patch(self.pods_rt, meta["name"], patch, meta["namespace"], patch_type="strategic",
                                        subresource="status")
            except ApiStatusError as e:
                if not is_not_found(e):
                    raise
                continue
            self.events.emit(pod, "Warning", "NodeNotReady", "Node is not ready")
