"""The scheduler: pop a pod, find a node, assume it, bind in the background.

The scheduling cycle (filter, score, assume) is synchronous and runs on the event loop between
two awaits, so it sees a consistent cache without copying. Binding is the asynchronous part:
at most `max_inflight_binds` POSTs to pods/binding are outstanding, and the loop only waits
when that many are. A bind failure forgets the assumed pod and retries it after back-off.

A pod no node fits runs PostFilter (preemption), then gets PodScheduled=False/Unschedulable
with upstream's message (`0/3 nodes are available: 3 Insufficient cpu. preemption: …`), a
FailedScheduling event, and waits in the queue for a cluster event that could help. Events go
through a bounded buffer (1000, drop when full, like upstream's broadcaster) so a flood of
events never slows scheduling down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import Client, EventRecorder, InformerFactory
from tugboat.client.clock import AsyncClock, RealClock
from tugboat.client.errors import ApiStatusError, is_not_found
from tugboat.scheduler import events as ev
from tugboat.scheduler.cache import Cache
from tugboat.scheduler.eventhandlers import EventHandlers
from tugboat.scheduler.framework import CycleState, FitError, Framework, Plugin
from tugboat.scheduler.handle import Handle
from tugboat.scheduler.plugins import DEFAULT_PLUGINS
from tugboat.scheduler.queue import QueuedPodInfo, SchedulingQueue
from tugboat.scheduler.status import Code
from tugboat.util import gctune
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
_S = default_scheme()


def _rt(group: str, version: str, kind: str) -> ResourceType:
    rt = _S.by_kind(group, version, kind)
    assert rt is not None, kind
    return rt


POD = _rt("", "v1", "Pod")
NODE = _rt("", "v1", "Node")
WATCHED: dict[str, ResourceType] = {
    "namespaces": _rt("", "v1", "Namespace"),
    "priorityclasses": _rt("scheduling.k8s.io", "v1", "PriorityClass"),
    "services": _rt("", "v1", "Service"),
    "replicationcontrollers": _rt("", "v1", "ReplicationController"),
    "replicasets": _rt("apps", "v1", "ReplicaSet"),
    "statefulsets": _rt("apps", "v1", "StatefulSet"),
    "poddisruptionbudgets": _rt("policy", "v1", "PodDisruptionBudget"),
    "persistentvolumeclaims": _rt("", "v1", "PersistentVolumeClaim"),
    "persistentvolumes": _rt("", "v1", "PersistentVolume"),
    "storageclasses": _rt("storage.k8s.io", "v1", "StorageClass"),
}
EVENT_BUFFER = 1000


class Scheduler:
    def __init__(self, client: Client, informers: InformerFactory, *,
                 scheduler_name: str | Iterable[str] = "default-scheduler", clock: AsyncClock | None = None,
                 percentage_of_nodes_to_score: int | None = None,
                 plugins: Sequence[type[Plugin]] | None = None, max_inflight_binds: int = 256,
                 initial_backoff: float = 1.0, max_backoff: float = 10.0, freeze_heap_after_sync: bool = False):
        self.client = client
        self.informers = informers
        self.names = {scheduler_name} if isinstance(scheduler_name, str) else set(scheduler_name)
        self.clock: AsyncClock = clock or RealClock()
        self.listers = {name: informers.lister(rt) for name, rt in WATCHED.items()}
        self.handle = Handle(Cache(), client=client, listers=self.listers, clock=self.clock)
        self.framework = Framework(self.handle, [cls(self.handle) for cls in (plugins or DEFAULT_PLUGINS)],
                                   percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        self.handle.framework = self.framework
        self.queue = SchedulingQueue(self.clock, initial_backoff=initial_backoff, max_backoff=max_backoff,
                                     plugins_for_event=self.framework.plugins_for_event)
        self.handle.recorders = {n: EventRecorder(client, n, clock=self.clock) for n in self.names}
        self.handlers = EventHandlers(self.handle, self.queue, self.names, self.priority_of)
        self.max_inflight_binds = max_inflight_binds
        self.freeze_heap_after_sync = freeze_heap_after_sync  # a scheduler process: see util/gctune.py
        self._bind_slots = asyncio.Semaphore(max_inflight_binds)
        self._events: asyncio.Queue[tuple[str, Mapping[str, Any], str, str, str]] = asyncio.Queue(EVENT_BUFFER)
        self._tasks: list[asyncio.Task[Any]] = []
        self._registered = False
        self.scheduled = 0  # pods bound (for metrics / benchmarks)
        self.cycles = 0
        self.cycle_seconds = 0.0  # time spent in scheduling cycles (filter/score/assume)

    @property
    def cache(self) -> Cache:
        return self.handle.cache

    # -- priority ------------------------------------------------------------------------------

    def priority_of(self, pod: Mapping[str, Any]) -> int:
        """spec.priority (set by the Priority admission), else from the PriorityClass."""
        spec = pod.get("spec") or {}
        if spec.get("priority") is not None:
            return int(spec["priority"])
        lister = self.listers["priorityclasses"]
        name = spec.get("priorityClassName")
        if name:
            pc = lister.get(name)
            return int(pc.get("value") or 0) if pc else 0
        for pc in lister.list():
            if pc.get("globalDefault"):
                return int(pc.get("value") or 0)
        return 0

    # -- lifecycle -----------------------------------------------------------------------------

    def register(self) -> None:
        """Attach the informer handlers (idempotent); done by run()."""
        if self._registered:
            return
        self._registered = True
        h = self.handlers
        self.informers.informer(NODE).add_event_handler(
            on_add=h.on_node_add, on_update=h.on_node_update, on_delete=h.on_node_delete)
        self.informers.informer(WATCHED["namespaces"]).add_event_handler(
            on_add=h.on_namespace, on_update=h.on_namespace, on_delete=h.on_namespace_delete)
        self.informers.informer(WATCHED["poddisruptionbudgets"]).add_event_handler(
            on_add=h.on_pdb, on_update=h.on_pdb, on_delete=h.on_pdb)
        for plural, event in (("persistentvolumeclaims", "PersistentVolumeClaim/All"),
                              ("persistentvolumes", "PersistentVolume/All"), ("storageclasses", "StorageClass/All")):
            self._move_on(WATCHED[plural], event)  # the volume plugins' queueing hints
        self.informers.informer(POD).add_event_handler(
            on_add=h.on_pod_add, on_update=h.on_pod_update, on_delete=h.on_pod_delete)

    def _move_on(self, rt: ResourceType, event: str) -> None:
        def moved(*_objs: Any) -> None:
            self.queue.move_all(event)
        self.informers.informer(rt).add_event_handler(on_add=moved, on_update=moved)

    async def start(self, sync_timeout: float | None = 60.0) -> None:
        """Start informers, wait for their caches, then schedule in the background."""
        self.register()
        self.informers.start()
        await self.informers.wait_for_sync(sync_timeout)
        if self.freeze_heap_after_sync:
            gctune.freeze_long_lived()  # the synced caches stay: keep full collections off them
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(), name="scheduler-loop"),
                       loop.create_task(self.queue.run(), name="scheduler-queue"),
                       *(loop.create_task(self._event_worker()) for _ in range(4))]

    async def run(self) -> None:
        """Schedule until cancelled (or stop())."""
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop scheduling (informers belong to the caller's factory and keep running)."""
        tasks, self._tasks = self._tasks, []
        self.queue.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.handle.cancel_all()

    # -- the loop ------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            qpi = await self.queue.pop()
            await self._bind_slots.acquire()
            t0 = time.perf_counter()
            try:
                bound = self.schedule_one(qpi)
            except Exception:  # noqa: BLE001 - one broken pod must not stop scheduling
                log.exception("scheduling %s failed", qpi.key)
                bound = False
                self.queue.add_backoff(qpi)
            self.cycles += 1
            self.cycle_seconds += time.perf_counter() - t0
            if not bound:
                self._bind_slots.release()
            await asyncio.sleep(0)

    def schedule_one(self, qpi: QueuedPodInfo) -> bool:
        """One scheduling cycle; True when a bind was started (it owns a bind slot)."""
        pi = qpi.pi
        if pi.terminating or qpi.key not in self.queue:
            self.queue.delete(qpi.key)
            return False
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        try:
            node, state = self.framework.schedule(pi, state)
        except FitError as fe:
            self._unschedulable(qpi, state, fe, cycle)
            return False
        node_name = node.name
        self.cache.assume(pi, node_name)
        st = self.framework.run_reserve(state, pi, node_name) or self.framework.run_permit(state, pi, node_name)
        if st is not None:
            self.cache.forget(pi.key)
            self.queue.add_backoff(qpi)
            return False
        self.queue.done(qpi.key)
        self.handle.clear_nomination(pi.key)
        self.handle.spawn(self._bind(qpi, state, node_name))
        return True

    async def _bind(self, qpi: QueuedPodInfo, state: CycleState, node: str) -> None:
        pi = qpi.pi
        try:
            st = await self.framework.run_bind(state, pi, node)
        finally:
            self._bind_slots.release()
        if st is None or st.code == Code.SUCCESS:
            self.scheduled += 1
            self._event(pi.scheduler_name, pi.pod, "Normal", "Scheduled",
                        f"Successfully assigned {pi.namespace}/{pi.name} to {node}")
            return
        self.cache.forget(pi.key)
        self.framework.run_unreserve(state, pi, node)
        self.queue.move_all(ev.POD_DELETE)
        if "already assigned" in st.message or "not found" in st.message:
            return  # someone else placed it, or it is gone: the watch will tell
        log.info("binding %s to %s failed: %s", pi.key, node, st.message)
        self._event(pi.scheduler_name, pi.pod, "Warning", "FailedScheduling", st.message)
        if self.handlers.responsible(pi.pod) and not self.cache.pod(pi.key):
            self.queue.add_backoff(qpi)

    # -- failures ------------------------------------------------------------------------------

    def _unschedulable(self, qpi: QueuedPodInfo, state: CycleState, fe: FitError, cycle: int) -> None:
        pi, diag = qpi.pi, fe.diagnosis
        res = self.framework.run_post_filter(state, pi, diag)
        nominated: str | None = None
        if res is not None:
            if not res.status.is_success():
                diag.post_filter_msg = res.status.message
            nominated = res.nominated_node
            if nominated:
                self.handle.nominate(pi, nominated)
            elif nominated == "":
                self.handle.clear_nomination(pi.key)
        msg = str(fe)
        self.queue.add_unschedulable(qpi, diag.unschedulable_plugins, cycle)
        self._event(pi.scheduler_name, pi.pod, "Warning", "FailedScheduling", msg)
        self.handle.spawn(self._set_unschedulable(pi.pod, msg, nominated))

    async def _set_unschedulable(self, pod: Mapping[str, Any], msg: str, nominated: str | None) -> None:
        md = pod.get("metadata") or {}
        status = pod.get("status") or {}
        cur = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        patch: dict[str, Any] = {}
        if nominated is not None and (status.get("nominatedNodeName") or "") != nominated:
            patch["nominatedNodeName"] = nominated or None
        if not (cur and cur.get("status") == "False" and cur.get("reason") == "Unschedulable"
                and cur.get("message") == msg):
            patch["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                    "message": msg, "lastProbeTime": None,
                                    "lastTransitionTime": rfc3339(self.clock.time())}]
        if not patch:
            return
        try:
            await self.client.patch(POD, md.get("name") or "", {"status": patch}, md.get("namespace"),
                                    patch_type="strategic", subresource="status")
        except ApiStatusError as e:
            if not is_not_found(e):
                log.warning("updating status of %s/%s: %s", md.get("namespace"), md.get("name"), e)

    # -- events --------------------------------------------------------------------------------

    def _event(self, scheduler: str, obj: Mapping[str, Any], type_: str, reason: str, msg: str) -> None:
        try:
            self._events.put_nowait((scheduler, obj, type_, reason, msg))
        except asyncio.QueueFull:
            log.debug("event buffer full: dropping %s %s", reason, msg)

    async def _event_worker(self) -> None:
        while True:
            name, obj, type_, reason, msg = await self._events.get()
            rec = self.handle.recorders.get(name) or next(iter(self.handle.recorders.values()))
            await rec.event(obj, type_, reason, msg)

    async def flush_events(self) -> None:
        """Wait until buffered events are written (tests)."""
        while not self._events.empty():
            await asyncio.sleep(0.01)
        for rec in self.handle.recorders.values():
            await rec.flush()
