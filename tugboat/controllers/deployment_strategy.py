"""The three ways a Deployment sync moves replicas (rolling.go, recreate.go, sync.go `scale`).

* rolling: grow the new ReplicaSet up to replicas+maxSurge pods in total, shrink old ones
  while at least replicas-maxUnavailable stay available (unhealthy old pods go first);
* recreate: scale every old ReplicaSet to 0, wait until none of their pods run, then
  scale the new one up;
* scale (a replicas change mid-rollout, or while paused): spread the difference over the
  active ReplicaSets in proportion to their size, as upstream does, so a rollout in
  progress keeps its ratio.
"""

from __future__ import annotations

from typing import Any

from tugboat.controllers import deployment_util as du
from tugboat.controllers.deployment_rollout import Rollout

Obj = dict[str, Any]


async def rolling(r: Rollout) -> None:
    new, old = await r.get_all(create=True)
    assert new is not None
    if await _reconcile_new(r, new, old):
        new, old = r.split()
        await r.sync_rollout_status(new, old)
        return
    if await _reconcile_old(r, new, old):
        new, old = r.split()
        await r.sync_rollout_status(new, old)
        return
    new, old = r.split()
    if du.complete(r.d, r.d.get("status") or {}):
        await r.cleanup(old)
    await r.sync_rollout_status(new, old)


async def _reconcile_new(r: Rollout, new: Obj, old: list[Obj]) -> bool:
    want = du.replicas(r.d)
    if du.replicas(new) == want:
        return False
    if du.replicas(new) > want:
        return (await r.scale_and_record(new, want))[0]
    return (await r.scale_and_record(new, r._new_rs_new_replicas(old, new)))[0]


async def _reconcile_old(r: Rollout, new: Obj, old: list[Obj]) -> bool:
    old_active = du.active(list(old))
    if sum(du.replicas(x) for x in old_active) == 0:
        return False
    all_pods = sum(du.replicas(x) for x in [*old, new])
    min_available = du.replicas(r.d) - du.max_unavailable(r.d)
    new_unavailable = du.replicas(new) - du.st(new, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    # 1. old pods that are not available anyway go first (they cost no availability)
    cleaned = 0
    for rs in du.by_creation(old_active):
        if cleaned >= max_scaled_down:
            break
        unhealthy = du.replicas(rs) - du.st(rs, "availableReplicas")
        if du.replicas(rs) == 0 or unhealthy <= 0:
            continue
        n = min(max_scaled_down - cleaned, unhealthy)
        await r.scale_and_record(rs, du.replicas(rs) - n)
        cleaned += n
    # 2. then available old pods, as long as minAvailable holds
    cur_new, old = r.split()
    available = sum(du.st(x, "availableReplicas") for x in [*old, *([cur_new] if cur_new else [])])
    scaled = 0
    if available > min_available:
        total = available - min_available
        for rs in du.by_creation(du.active(list(old))):
            if scaled >= total:
                break
            n = min(du.replicas(rs), total - scaled)
            await r.scale_and_record(rs, du.replicas(rs) - n)
            scaled += n
    return cleaned + scaled > 0


async def recreate(r: Rollout, pods_by_rs: dict[str, list[Obj]]) -> None:
    new, old = await r.get_all(create=False)
    scaled = False
    for rs in du.active(list(old)):
        scaled = (await r.scale_and_record(rs, 0))[0] or scaled
    if scaled:
        new, old = r.split()
        await r.sync_rollout_status(new, old)
        return
    if _old_pods_running(new, old, pods_by_rs):
        await r.sync_rollout_status(new, old)
        return
    if new is None:
        new, old = await r.get_all(create=True)
    assert new is not None
    await r.scale_and_record(new, du.replicas(r.d))
    new, old = r.split()
    if du.complete(r.d, r.d.get("status") or {}):
        await r.cleanup(old)
    await r.sync_rollout_status(new, old)


def _old_pods_running(new: Obj | None, old: list[Obj], pods_by_rs: dict[str, list[Obj]]) -> bool:
    if sum(du.st(rs, "replicas") for rs in old) > 0:
        return True
    new_uid = new["metadata"]["uid"] if new else None
    for uid, pods in pods_by_rs.items():
        if uid == new_uid:
            continue
        for p in pods:
            if (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False


async def scale(r: Rollout, new: Obj | None, old: list[Obj]) -> None:
    d = r.d
    want = du.replicas(d)
    only = _active_or_latest(new, old)
    if only is not None:
        if du.replicas(only) != want:
            await r.scale_rs(only, want)
        return
    if new is not None and _saturated(d, new):
        for rs in du.active(list(old)):
            await r.scale_and_record(rs, 0)
        return
    if not du.is_rolling(d):
        return
    actives = du.active([*old, new])
    current = sum(du.replicas(x) for x in actives)
    allowed = want + du.max_surge(d) if want > 0 else 0
    to_add = allowed - current
    if to_add > 0:  # larger first, newer first on ties
        actives.sort(key=lambda x: (-du.replicas(x), -du.creation_time(x), x["metadata"]["name"]))
    elif to_add < 0:  # larger first, older first on ties
        actives.sort(key=lambda x: (-du.replicas(x), du.creation_time(x), x["metadata"]["name"]))
    sizes: dict[str, int] = {}
    added = 0
    for rs in actives:
        name = rs["metadata"]["name"]
        if to_add != 0:
            p = _proportion(d, rs, to_add, added)
            sizes[name] = du.replicas(rs) + p
            added += p
        else:
            sizes[name] = du.replicas(rs)
    if to_add != 0 and actives:
        first = actives[0]["metadata"]["name"]
        sizes[first] = max(0, sizes[first] + to_add - added)
    for rs in actives:
        await r.scale_rs(rs, sizes[rs["metadata"]["name"]], "up" if to_add > 0 else "down")


def _active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
    olds = du.by_creation(old, newest_first=True)
    actives = du.active([*olds, new])
    if not actives:
        return new if new is not None else (olds[0] if olds else None)
    if len(actives) == 1:
        return actives[0]
    return None


def _saturated(d: Obj, new: Obj) -> bool:
    desired = du.annotations_of(new).get(du.DESIRED_REPLICAS)
    return (du.replicas(new) == du.replicas(d) and desired == str(du.replicas(d))
            and du.st(new, "availableReplicas") == du.replicas(d))


def _round(x: float) -> int:
    """Go's math.Round: halves away from zero."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _proportion(d: Obj, rs: Obj, to_add: int, added: int) -> int:
    if du.replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if du.replicas(d) == 0:
        fraction = -du.replicas(rs)
    else:
        total = du.replicas(d) + du.max_surge(d)
        try:
            annotated = int(du.annotations_of(rs).get(du.MAX_REPLICAS, ""))
        except ValueError:
            annotated = du.st(d, "replicas")
        fraction = _round(du.replicas(rs) * total / annotated) - du.replicas(rs) if annotated else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
