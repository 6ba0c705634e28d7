"""Pod helpers shared by the StatefulSet, DaemonSet, Job and CronJob controllers.

Private to those controllers (hence the `_`): owner references, pod states as upstream's
podutil sees them (active, ready, available, terminating), building a pod from a template,
an index of objects by their controller's UID, and creation/deletion *expectations*.

Expectations exist because informers lag behind our own writes: after creating a pod with
`generateName`, the next reconcile may run before the watch delivers it and would create a
second one. Like upstream's ControllerExpectations, a controller records what it just
created/deleted and skips managing pods until the cache has caught up (or 5 minutes passed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import Controller, WorkQueue, copy_obj
from tugboat.util.clock import parse_rfc3339

Obj = dict[str, Any]

_scheme = default_scheme()


def _rt(group: str, version: str, plural: str) -> ResourceType:
    rt = _scheme.get(group, version, plural)
    assert rt is not None, plural
    return rt


PODS = _rt("", "v1", "pods")
PVCS = _rt("", "v1", "persistentvolumeclaims")
NODES = _rt("", "v1", "nodes")
JOBS = _rt("batch", "v1", "jobs")
CRONJOBS = _rt("batch", "v1", "cronjobs")
STATEFULSETS = _rt("apps", "v1", "statefulsets")
DAEMONSETS = _rt("apps", "v1", "daemonsets")
CONTROLLER_REVISIONS = _rt("apps", "v1", "controllerrevisions")

OWNER_UID_INDEX = "workload-controller-uid"
EXPECTATIONS_TTL = 300.0  # upstream ExpectationsTimeout


def meta(obj: Mapping[str, Any]) -> Obj:
    return obj.get("metadata") or {}


def controller_of(obj: Mapping[str, Any]) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def controller_uid_index(obj: Obj) -> list[str]:
    ref = controller_of(obj)
    return [ref["uid"]] if ref and ref.get("uid") else []


def owner_ref(owner: Mapping[str, Any], api_version: str, kind: str, *, controller: bool = True) -> Obj:
    md = meta(owner)
    ref: Obj = {"apiVersion": api_version, "kind": kind, "name": md.get("name", ""), "uid": md.get("uid", "")}
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def owned(objs: Iterable[Obj], uid: str) -> list[Obj]:
    out = []
    for o in objs:
        ref = controller_of(o)
        if ref is not None and ref.get("uid") == uid:
            out.append(o)
    return out


# -- pod states (upstream podutil) ---------------------------------------------------------------

def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_active(pod: Mapping[str, Any]) -> bool:
    return phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def condition(obj: Mapping[str, Any], ctype: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return dict(c)
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_running_and_ready(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    c = condition(pod, "Ready") or {}
    since = c.get("lastTransitionTime")
    if not since:
        return False
    return parse_rfc3339(since) + min_ready_seconds <= now


def available_in(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> float | None:
    """Seconds until a ready-but-not-yet-available pod becomes available (for requeues)."""
    if not min_ready_seconds or not is_ready(pod):
        return None
    since = (condition(pod, "Ready") or {}).get("lastTransitionTime")
    if not since:
        return None
    left = parse_rfc3339(since) + min_ready_seconds - now
    return left if left > 0 else None


def creation_time(obj: Mapping[str, Any]) -> float:
    ts = meta(obj).get("creationTimestamp")
    return parse_rfc3339(ts) if ts else 0.0


def pod_from_template(template: Mapping[str, Any] | None, namespace: str, ref: Obj) -> Obj:
    """A new Pod from a PodTemplateSpec: its labels/annotations/finalizers/spec plus our
    controller ownerReference (upstream GetPodFromTemplate)."""
    t = copy_obj(template or {})
    tmeta = t.get("metadata") or {}
    md: Obj = {"namespace": namespace, "ownerReferences": [ref]}
    for k in ("labels", "annotations", "finalizers"):
        if tmeta.get(k):
            md[k] = dict(tmeta[k]) if isinstance(tmeta[k], dict) else list(tmeta[k])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": t.get("spec") or {}}


class _ClockedQueue(WorkQueue[Any]):
    """Requeues a reconcile asked for (schedules, TTLs, back-offs) follow the injected clock;
    retries after errors follow real time, so a FakeClock test never stalls on a retry."""

    def add_rate_limited(self, item: Any) -> None:
        delay = self.rate_limiter.when(item, time.monotonic())
        asyncio.get_running_loop().call_later(delay, self.add, item)


def clocked_loop(name: str, reconcile: Any, workers: int, clock: Any) -> Controller:
    """A controller loop whose delayed requeues follow `clock` (a FakeClock in tests)."""
    return Controller(name, reconcile, workers=workers, queue=_ClockedQueue(name, clock=clock))


async def create_in_batches(n: int, create: Callable[[int], Awaitable[Any]], initial: int = 1) -> int:
    """Upstream slowStartBatch: 1, 2, 4, … creates at a time, stopping at the first failing
    batch (a quota or admission error then costs one call, not n). Returns how many succeeded;
    re-raises the first error after its batch."""
    done, size = 0, initial
    while done < n:
        batch = min(size, n - done)
        results = await asyncio.gather(*(create(done + i) for i in range(batch)), return_exceptions=True)
        errs = [r for r in results if isinstance(r, BaseException)]
        done += batch - len(errs)
        if errs:
            raise errs[0]
        size *= 2
    return done


# -- expectations --------------------------------------------------------------------------------

@dataclass
class _Pending:
    adds: set[str] = field(default_factory=set)
    dels: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    """Per controller key: pod keys we created or deleted and have not yet seen in the cache."""

    def __init__(self, clock: Any = None):
        self.clock = clock
        self._pending: dict[str, _Pending] = {}

    def _now(self) -> float:
        return self.clock.monotonic() if self.clock is not None else time.monotonic()

    def expect_create(self, key: str, pod_key: str) -> None:
        p = self._pending.setdefault(key, _Pending(since=self._now()))
        p.adds.add(pod_key)

    def expect_delete(self, key: str, pod_key: str) -> None:
        p = self._pending.setdefault(key, _Pending(since=self._now()))
        p.dels.add(pod_key)

    def lower_create(self, key: str, pod_key: str) -> None:
        """A create we expected failed: stop waiting for it."""
        p = self._pending.get(key)
        if p:
            p.adds.discard(pod_key)

    def satisfied(self, key: str, cached: Callable[[str], Obj | None]) -> bool:
        """True once every pod we created is in the cache and every pod we deleted is gone
        from it (or terminating) — or the expectations are older than 5 minutes."""
        p = self._pending.get(key)
        if p is None:
            return True
        p.adds = {k for k in p.adds if cached(k) is None}
        p.dels = {k for k in p.dels if (o := cached(k)) is not None and not is_terminating(o)}
        if (not p.adds and not p.dels) or self._now() - p.since > EXPECTATIONS_TTL:
            self.forget(key)
            return True
        return False

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)
