"""API Priority and Fairness, reduced to what a one-event-loop server needs.

WHY: every request in flight is a coroutine taking turns on ONE event loop, so a node's Lease
PUT waits behind every step of every other request in flight. During a 10 000-pod rollout the
controllers, the scheduler and the node agents keep hundreds of pod writes in flight and a
Lease renewal took seconds (p99 1.7 s, docs/benchmarks.md) — long enough, at scale, to make
nodes look dead. Upstream solves this with APF: requests are classified by FlowSchemas into
priority levels, each with its own share of the server's concurrency, so bulk pod traffic
queues in its own level while node heartbeats (`system-node-high`: nodes, nodes/status and
leases from `system:nodes`) and leader election have seats of their own.

This module copies upstream's bootstrap classification (the FlowSchemas of
k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap: exempt for system:masters and health probes,
node-high, system, leader-election, workload-high, workload-low, global-default, catch-all)
and its nominal concurrency shares (30/40/10/40/100/20/5), scaled to a much smaller total
(`total_seats`, default 48 instead of 600) because one Python loop runs them all. Each level is
a FIFO of waiting requests behind a seat count — no shuffle-sharded fair queuing between flows
inside a level — and a level whose queue is full answers 429 with Retry-After, as upstream
does. Long-running requests (watch, exec/attach/portforward/proxy, logs) take no seat, as
upstream's max-in-flight filter exempts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tugboat.api.errors import ApiError

from .request import UserInfo
from .requestinfo import RequestInfo

# upstream's suggested PriorityLevelConfigurations: nominal concurrency shares, queue capacity
# (queues × queueLengthLimit)
SHARES: dict[str, tuple[int, int]] = {
    "node-high": (40, 64 * 50), "system": (30, 64 * 50), "leader-election": (10, 16 * 50),
    "workload-high": (40, 128 * 50), "workload-low": (100, 128 * 50), "global-default": (20, 128 * 50),
    "catch-all": (5, 0),  # mandatory catch-all rejects instead of queueing
}
LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "log"})
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/livez"})
KUBE_SYSTEM_SA = "system:serviceaccount:kube-system:"
COMPONENT_USERS = frozenset({"system:kube-controller-manager", "system:kube-scheduler"})


def classify(user: UserInfo, info: RequestInfo) -> str | None:
    """The priority level upstream's bootstrap FlowSchemas pick, or None for exempt."""
    groups = user.groups
    if "system:masters" in groups:
        return None  # FlowSchema "exempt"
    if not info.is_resource:
        if info.verb == "get" and info.path.rstrip("/") in PROBE_PATHS:
            return None  # "probes"
    elif info.verb == "watch" or info.subresource in LONG_RUNNING_SUBRESOURCES:
        return None  # long-running: no seat
    if "system:nodes" in groups:
        if info.is_resource and ((info.group == "" and info.resource == "nodes" and not info.namespace)
                                 or (info.group == "coordination.k8s.io" and info.resource == "leases"
                                     and info.namespace)):
            return "node-high"  # "system-node-high"
        return "system"  # "system-nodes"
    kube_system_sa = user.name.startswith(KUBE_SYSTEM_SA)
    if (user.name in COMPONENT_USERS or kube_system_sa) and _leader_election(info, kube_system_sa):
        return "leader-election"
    if user.name in COMPONENT_USERS or kube_system_sa:
        return "workload-high"  # "kube-controller-manager", "kube-scheduler", "kube-system-service-accounts"
    if "system:serviceaccounts" in groups:
        return "workload-low"  # "service-accounts"
    if user.authenticated or "system:unauthenticated" in groups:
        return "global-default"
    return "catch-all"


def _leader_election(info: RequestInfo, kube_system_sa: bool) -> bool:
    """system-leader-election (components, kube-system SAs) and workload-leader-election (kube-system SAs)."""
    if not info.is_resource or info.verb not in ("get", "create", "update") or info.subresource:
        return False
    if info.group == "coordination.k8s.io" and info.resource == "leases" and info.namespace:
        return True
    return info.group == "" and info.resource in ("endpoints", "configmaps") and bool(info.namespace) \
        and (info.namespace == "kube-system" or kube_system_sa)


@dataclass
class Level:
    """One priority level: `seats` requests execute at once, up to `queue_limit` wait (FIFO)."""
    name: str
    seats: int
    queue_limit: int
    executing: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    rejected: int = 0
    dispatched: int = 0

    async def acquire(self) -> None:
        if self.executing < self.seats and not self.waiting:
            self.executing += 1
            self.dispatched += 1
            return
        if len(self.waiting) >= self.queue_limit:
            self.rejected += 1
            raise ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                           {"retryAfterSeconds": 1}, headers={"Retry-After": "1"})
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(fut)
        try:
            await fut  # release() handed us its seat
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the seat arrived together with the cancellation: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self.waiting.remove(fut)
            raise
        self.dispatched += 1

    def release(self) -> None:
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_result(None)  # the seat moves to the oldest waiter; executing unchanged
                return
        self.executing -= 1


class FlowControl:
    """The server's priority levels; `async with fc.seat(user, info):` around a request."""

    def __init__(self, total_seats: int = 48):
        total_shares = sum(s for s, _ in SHARES.values())
        self.levels = {name: Level(name, max(1, math.ceil(total_seats * share / total_shares)), qlim)
                       for name, (share, qlim) in SHARES.items()}

    @contextlib.asynccontextmanager
    async def seat(self, user: UserInfo, info: RequestInfo) -> AsyncIterator[str | None]:
        name = classify(user, info)
        if name is None:
            yield None
            return
        level = self.levels[name]
        await level.acquire()
        try:
            yield name
        finally:
            level.release()
