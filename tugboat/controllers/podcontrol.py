"""Shared pieces of the workload controllers: pods from templates, expectations, pod predicates.

Why a shared module: ReplicaSet, ReplicationController, Job, DaemonSet and StatefulSet all
create pods the same way upstream does (controller.PodControlInterface): labels, annotations
and finalizers copied from the template, `generateName: <owner>-`, and a controller
ownerReference with blockOwnerDeletion. They also share the *expectations* trick: after a
controller asks for N creations it must not act on that owner again until its informer has
seen them (or 5 minutes pass), or it would create the same pods twice while the cache lags.

This is a helper module, not a controller: it registers nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tugboat.api.scheme import ResourceType
from tugboat.client import Client, EventRecorder, copy_obj, is_not_found
from tugboat.util.clock import parse_rfc3339

Obj = dict[str, Any]
EXPECTATIONS_TTL = 300.0  # upstream ExpectationsTimeout
BURST_REPLICAS = 500  # upstream BurstReplicas: creations/deletions per sync
SLOW_START_INITIAL_BATCH = 1


# -- ownerReferences ------------------------------------------------------------------------

def owner_reference(owner: Obj, rt: ResourceType, *, controller: bool = True) -> Obj:
    """metav1.NewControllerRef: the reference a controller puts on what it creates."""
    md = owner.get("metadata") or {}
    return {"apiVersion": rt.api_version, "kind": rt.kind, "name": md.get("name", ""),
            "uid": md.get("uid", ""), "controller": controller, "blockOwnerDeletion": True}


def controller_ref(obj: Obj) -> Obj | None:
    """metav1.GetControllerOf: the ownerReference with controller=true, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


# -- pods from templates ----------------------------------------------------------------------

def pod_from_template(template: Obj, owner: Obj, owner_rt: ResourceType, *,
                      generate_name: str | None = None) -> Obj:
    """controller.GetPodFromTemplate: a pod body (no name; the server generates it)."""
    tmeta = template.get("metadata") or {}
    owner_name = (owner.get("metadata") or {}).get("name", "")
    meta: Obj = {"generateName": generate_name if generate_name is not None else f"{owner_name}-",
                 "namespace": (owner.get("metadata") or {}).get("namespace", ""),
                 "ownerReferences": [owner_reference(owner, owner_rt)]}
    for k in ("labels", "annotations", "finalizers"):
        if tmeta.get(k):
            meta[k] = copy_obj(tmeta[k])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy_obj(template.get("spec") or {})}


class PodControl:
    """Create and delete pods, recording upstream's events on the owner."""

    def __init__(self, client: Client, pods: ResourceType, recorder: EventRecorder):
        self.client = client
        self.pods = pods
        self.recorder = recorder

    async def create(self, owner: Obj, owner_rt: ResourceType, template: Obj, *,
                     generate_name: str | None = None, name: str | None = None,
                     mutate: Callable[[Obj], None] | None = None) -> Obj:
        pod = pod_from_template(template, owner, owner_rt, generate_name=generate_name)
        if name:
            pod["metadata"].pop("generateName", None)
            pod["metadata"]["name"] = name
        if mutate is not None:
            mutate(pod)
        if not (pod["metadata"].get("labels") or {}):
            raise ValueError("unable to create pods, no labels")
        ns = pod["metadata"]["namespace"]
        try:
            created = await self.client.create(self.pods, pod, ns)
        except Exception as e:
            await self.recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {e}")
            raise
        await self.recorder.event(owner, "Normal", "SuccessfulCreate",
                                  f"Created pod: {created['metadata']['name']}")
        return created

    async def delete(self, owner: Obj, namespace: str, name: str) -> None:
        try:
            await self.client.delete(self.pods, name, namespace)
        except Exception as e:
            if not is_not_found(e):
                await self.recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {e}")
            raise
        await self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")


async def slow_start_batch(count: int, initial: int, fn: Callable[[], Awaitable[Any]]) -> tuple[int, BaseException | None]:
    """Call fn `count` times in batches of 1, 2, 4 … and stop at the first batch with an error,
    so a quota or admission failure costs one request, not hundreds. Returns (successes, err)."""
    remaining, successes = count, 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errs = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errs)
        if errs:
            return successes, errs[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- expectations -----------------------------------------------------------------------------

@dataclass
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    timestamp: float = 0.0


class Expectations:
    """UIDTrackingControllerExpectations: per owner key, how many creations are still to be
    observed and which pod keys are still to be seen deleted."""

    def __init__(self, clock: Any, ttl: float = EXPECTATIONS_TTL):
        self.clock = clock
        self.ttl = ttl
        self._by_key: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        e = self._by_key.get(key)
        if e is None:
            return True  # never set (new owner, or a restart): sync
        if e.adds <= 0 and not e.deletes:
            return True
        return self.clock.monotonic() - e.timestamp > self.ttl  # expired: resync anyway

    def expect_creations(self, key: str, n: int) -> None:
        self._by_key[key] = _Expectation(adds=n, timestamp=self.clock.monotonic())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        self._by_key[key] = _Expectation(deletes=set(pod_keys), timestamp=self.clock.monotonic())

    def creation_observed(self, key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.deletes.discard(pod_key)

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        e = self._by_key.get(key)
        return (0, 0) if e is None else (max(0, e.adds), len(e.deletes))


# -- pod predicates ---------------------------------------------------------------------------

def is_pod_active(pod: Obj) -> bool:
    """controller.IsPodActive: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def pod_condition(pod: Obj, type_: str) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return dict(c)
    return None


def is_pod_ready(pod: Obj) -> bool:
    c = pod_condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    """When the pod's Ready condition last became True (None if not ready or unknown)."""
    c = pod_condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    ts = c.get("lastTransitionTime")
    try:
        return parse_rfc3339(ts) if ts else None
    except ValueError:
        return None


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """podutil.IsPodAvailable: ready for at least minReadySeconds."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


def creation_time(obj: Obj) -> float:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        return parse_rfc3339(ts) if ts else 0.0
    except ValueError:
        return 0.0
