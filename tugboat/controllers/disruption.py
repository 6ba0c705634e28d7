"""Disruption controller: keep each PodDisruptionBudget's status current.

Why: the eviction subresource (and so `kubectl drain`) only reads `status.disruptionsAllowed`;
this controller is what computes it. Upstream 1.32 pkg/controller/disruption:
* pods = the PDB's selector in its namespace (nil selects nothing, {} everything);
  currentHealthy = Ready pods not being deleted and not recently evicted (`disruptedPods`,
  entries dropped when the pod is gone/deleting or after 2 minutes);
* minAvailable as an int: desiredHealthy = it, expectedPods = number of pods;
  minAvailable as a percentage or maxUnavailable: expectedPods = the sum of the scale of the
  pods' controllers (Deployment through its ReplicaSet, ReplicaSet, StatefulSet,
  ReplicationController, or any controller with a scale subresource); percentages round up;
  desiredHealthy = ceil(pct * expected) or expected - maxUnavailable;
* disruptionsAllowed = currentHealthy - desiredHealthy, 0 when negative or nothing is expected;
* condition DisruptionAllowed: True/SufficientPods or False/InsufficientPods (SyncFailed when
  the expected count cannot be computed, e.g. a pod without a controller).
"""

from __future__ import annotations

import math
from typing import Any

from tugboat.api.selectors import label_selector_from_dict
from tugboat.client import copy_obj, deleted_object, is_not_found, split_key
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.util.clock import parse_rfc3339, rfc3339

Obj = dict[str, Any]
DELETION_TIMEOUT = 120.0
_OWNERS = {("v1", "ReplicationController"): ("", "v1", "replicationcontrollers"),
           ("apps/v1", "ReplicaSet"): ("apps", "v1", "replicasets"),
           ("apps/v1", "StatefulSet"): ("apps", "v1", "statefulsets"),
           ("apps/v1", "Deployment"): ("apps", "v1", "deployments")}


class SyncFailed(Exception):
    pass


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def scaled(value: Any, total: int) -> int:
    """GetScaledValueFromIntOrPercent with rounding up."""
    if isinstance(value, int):
        return value
    s = str(value)
    if not s.endswith("%") or not s[:-1].isdigit():
        raise SyncFailed(f"invalid value for IntOrString: invalid value {s!r}")
    return math.ceil(int(s[:-1]) * total / 100)


def pdb_pods(pdb: Obj, pods: list[Obj]) -> list[Obj]:
    sel = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
    return [p for p in pods if sel.matches(p["metadata"].get("labels"))]


@register
class DisruptionController(BaseController):
    name = "disruption-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.pdb_rt = ctx.rt("policy", "v1", "poddisruptionbudgets")
        self.events = ctx.recorder("controllermanager")

    def setup(self) -> None:
        inf = self.ctx.informers
        self.pdbs = inf.informer(self.pdb_rt)
        self.pods = inf.informer(self.ctx.rt("", "v1", "pods"))
        self.owners = {k: inf.informer(self.ctx.rt(*v)) for k, v in _OWNERS.items()}
        self.pdbs.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods.add_event_handler(on_add=self._pod, on_update=self._pod_update,
                                    on_delete=lambda o: self._pod(deleted_object(o)))
        for informer in self.owners.values():
            informer.add_event_handler(on_update=self._scaled, on_delete=lambda o: self._ns(deleted_object(o)))

    def _pod(self, pod: Obj) -> None:
        for pdb in pdb_pods_for(self.pdbs.lister.list(pod["metadata"].get("namespace")), pod):
            self.enqueue(pdb)

    def _pod_update(self, old: Obj, new: Obj) -> None:
        self._pod(old)
        self._pod(new)

    def _scaled(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("replicas") != (new.get("spec") or {}).get("replicas"):
            self._ns(new)

    def _ns(self, obj: Obj) -> None:
        for pdb in self.pdbs.lister.list(obj["metadata"].get("namespace")):
            self.enqueue(pdb)

    # -- expected scale -----------------------------------------------------------------------

    async def _scale_of(self, ref: Obj, ns: str) -> tuple[str, int] | None:
        key = (ref.get("apiVersion", ""), ref.get("kind", ""))
        inf = self.owners.get(key)
        if inf is not None:
            obj = inf.lister.get(ref.get("name", ""), ns)
            if obj is None or obj["metadata"].get("uid") != ref.get("uid"):
                return None
            if key == ("apps/v1", "ReplicaSet"):
                dref = _controller_ref(obj)
                if dref is not None and dref.get("kind") == "Deployment":
                    return await self._scale_of(dref, ns)
            return obj["metadata"]["uid"], int((obj.get("spec") or {}).get("replicas", 1))
        try:
            rt = await self.client.resource_for(*key)
            path = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
            scale = await self.client.request("GET", f"{path}/namespaces/{ns}/{rt.plural}/{ref.get('name')}/scale")
        except ApiStatusError:
            return None
        if scale["metadata"].get("uid") != ref.get("uid"):
            return None
        return ref.get("uid", ""), int((scale.get("spec") or {}).get("replicas", 0))

    async def expected_scale(self, pods: list[Obj], ns: str) -> int:
        scales: dict[str, int] = {}  # uid of the scaled object (a Deployment for its RSs) -> replicas
        done: set[str] = set()
        for pod in pods:
            ref = _controller_ref(pod)
            if ref is None:
                raise SyncFailed(f'found no controller ref for pod "{pod["metadata"]["name"]}"')
            if ref.get("uid") in done:
                continue
            done.add(ref.get("uid", ""))
            found = await self._scale_of(ref, ns)
            if found is None:
                raise SyncFailed(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            scales[found[0]] = found[1]
        return sum(scales.values())

    # -- reconcile ----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        assert ns is not None
        pdb = self.pdbs.lister.get(name, ns)
        if pdb is None:
            return None
        now = self.ctx.clock.time()
        pods = pdb_pods(pdb, self.pods.lister.list(ns))
        disrupted, recheck = self._disrupted(pdb, pods, now)
        spec = pdb.get("spec") or {}
        try:
            if spec.get("maxUnavailable") is not None:
                expected = await self.expected_scale(pods, ns)
                desired = max(0, expected - scaled(spec["maxUnavailable"], expected))
            elif isinstance(spec.get("minAvailable"), int):
                expected, desired = len(pods), spec["minAvailable"]
            elif spec.get("minAvailable") is not None:
                expected = await self.expected_scale(pods, ns)
                desired = scaled(spec["minAvailable"], expected)
            else:
                expected, desired = len(pods), 0
        except SyncFailed as e:
            self.events.emit(pdb, "Warning", "CalculateExpectedPodCountFailed",
                             f"Failed to calculate the number of expected pods: {e}")
            await self._write(pdb, None, disrupted, now, str(e))
            return None
        healthy = sum(1 for p in pods if pod_ready(p) and not p["metadata"].get("deletionTimestamp")
                      and p["metadata"]["name"] not in disrupted)
        await self._write(pdb, (healthy, desired, expected), disrupted, now, None)
        return recheck

    def _disrupted(self, pdb: Obj, pods: list[Obj], now: float) -> tuple[dict[str, str], float | None]:
        by_name = {p["metadata"]["name"]: p for p in pods}
        keep: dict[str, str] = {}
        recheck: float | None = None
        for name, ts in ((pdb.get("status") or {}).get("disruptedPods") or {}).items():
            pod = by_name.get(name)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                continue
            left = parse_rfc3339(ts) + DELETION_TIMEOUT - now
            if left <= 0:
                continue
            keep[name] = ts
            recheck = left if recheck is None else min(recheck, left)
        return keep, recheck

    async def _write(self, pdb: Obj, counts: tuple[int, int, int] | None, disrupted: dict[str, str],
                     now: float, failure: str | None) -> None:
        body = copy_obj(pdb)
        old = body.get("status") or {}
        status: Obj = {"observedGeneration": pdb["metadata"].get("generation", 0)}
        if disrupted:
            status["disruptedPods"] = disrupted
        if counts is None:
            healthy, desired, expected = old.get("currentHealthy", 0), old.get("desiredHealthy", 0), \
                old.get("expectedPods", 0)
            allowed = 0
        else:
            healthy, desired, expected = counts
            allowed = healthy - desired if expected > 0 and healthy > desired else 0
        status.update(disruptionsAllowed=allowed, currentHealthy=healthy, desiredHealthy=desired,
                      expectedPods=expected)
        if failure is not None:
            cond = {"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed", "message": failure}
        elif allowed > 0:
            cond = {"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods", "message": ""}
        else:
            cond = {"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": ""}
        prev = next((c for c in old.get("conditions") or () if c.get("type") == "DisruptionAllowed"), None)
        cond["observedGeneration"] = status["observedGeneration"]
        cond["lastTransitionTime"] = prev["lastTransitionTime"] if prev and prev.get("status") == cond["status"] \
            and prev.get("lastTransitionTime") else rfc3339(now)
        others = [c for c in old.get("conditions") or () if c.get("type") != "DisruptionAllowed"]
        status["conditions"] = others + [cond]
        if status == old:
            return
        body["status"] = status
        try:
            await self.client.update_status(self.pdb_rt, body)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise


def _controller_ref(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def pdb_pods_for(pdbs: list[Obj], pod: Obj) -> list[Obj]:
    labels = pod["metadata"].get("labels")
    return [p for p in pdbs if label_selector_from_dict((p.get("spec") or {}).get("selector")).matches(labels)]
