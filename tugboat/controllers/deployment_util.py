"""Deployment helpers with upstream's exact arithmetic (pkg/controller/deployment/util).

Pure functions over plain dicts: template hashing and RS naming, revision and replica
annotations, maxSurge/maxUnavailable resolution (percentages round surge up and
unavailability down), conditions, and the "complete / progressing / timed out" tests that
`kubectl rollout status` ultimately depends on.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from tugboat.controllers.podcontrol import creation_time
from tugboat.util.clock import parse_rfc3339, rfc3339

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SKIP_COPY = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString's alphabet (no vowels, no 0/1/3)

# condition types and reasons
AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
RS_CREATE_ERROR = "ReplicaSetCreateError"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"


# -- hashing ----------------------------------------------------------------------------------

def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in s)


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """FNV-32a over a canonical encoding of the template (+ collisionCount), safe-encoded
    decimal: same format as upstream's ComputeHash (values differ: no Go struct dump here)."""
    data = orjson.dumps(_strip_hash(template), option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little", signed=False)
    return safe_encode(str(_fnv32a(data)))


def _prune(v: Any) -> Any:
    """Drop None and empty maps/lists at any depth: Go's semantic equality treats nil and
    empty alike, and kubectl's Go-marshalled templates carry `resources: {}` and
    `creationTimestamp: null` that a stored template lacks."""
    if isinstance(v, dict):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [])}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def _strip_hash(template: Obj) -> Obj:
    t = _prune(template or {})
    labels = ((t.get("metadata") or {}).get("labels") or {})
    if HASH_LABEL in labels:
        t["metadata"]["labels"] = {k: v for k, v in labels.items() if k != HASH_LABEL}
        t = _prune(t)
    return t  # type: ignore[no-any-return]


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """EqualIgnoreHash: templates equal apart from the pod-template-hash label."""
    return _strip_hash(a) == _strip_hash(b)


# -- replica sets -----------------------------------------------------------------------------

def replicas(obj: Obj | None) -> int:
    if obj is None:
        return 0
    v = (obj.get("spec") or {}).get("replicas")
    return 1 if v is None else int(v)


def st(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def revision(obj: Obj) -> int:
    try:
        return int(annotations_of(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision(r) for r in rss), default=0)


def by_creation(rss: list[Obj], newest_first: bool = False) -> list[Obj]:
    out = sorted(rss, key=lambda r: (creation_time(r), r["metadata"]["name"]))
    return out[::-1] if newest_first else out


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest RS whose template equals the deployment's (ignoring the hash label)."""
    tpl = (d.get("spec") or {}).get("template") or {}
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, tpl):
            return rs
    return None


def active(rss: list[Obj | None]) -> list[Obj]:
    return [r for r in rss if r is not None and replicas(r) > 0]


# -- surge / unavailable -----------------------------------------------------------------------

def scaled_value(v: Any, total: int, round_up: bool) -> int:
    if v is None:
        return 0
    if isinstance(v, str) and v.endswith("%"):
        pct = int(v[:-1])
        x = pct * total / 100
        return math.ceil(x) if round_up else math.floor(x)
    return int(v)


def is_rolling(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def fenceposts(d: Obj) -> tuple[int, int]:
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(ru.get("maxSurge", "25%"), desired, True)
    unavail = scaled_value(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavail == 0:
        unavail = 1
    return surge, unavail


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


# -- annotations --------------------------------------------------------------------------------

def set_replicas_annotations(rs: Obj, desired: int, max_reps: int) -> bool:
    md = rs.setdefault("metadata", {})
    ann = md.setdefault("annotations", {})
    changed = False
    for k, v in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_reps))):
        if ann.get(k) != v:
            ann[k] = v
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_reps: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_reps)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy the deployment's annotations, bump revision (moving the
    old one to revision-history), set desired/max replicas on a new RS."""
    md = rs.setdefault("metadata", {})
    ann = md.setdefault("annotations", {})
    changed = False
    for k, v in annotations_of(d).items():
        if k in SKIP_COPY or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    old = ann.get(REVISION, "")
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return changed
    if old_int < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old:
            hist = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h] + [old]
            while len(",".join(hist)) > MAX_REV_HISTORY_CHARS and len(hist) > 1:
                hist.pop(0)
            ann[REVISION_HISTORY] = ",".join(hist)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# -- conditions ---------------------------------------------------------------------------------

def condition(status: Obj, type_: str) -> Obj | None:
    for c in status.get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    ts = rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: no-op if status+reason are unchanged; keep lastTransitionTime
    when only the reason changes."""
    cur = condition(status, cond["type"])
    if cur is not None and cur.get("status") == cond["status"] and cur.get("reason") == cond["reason"]:
        return
    if cur is not None and cur.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": cur.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    conds = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != MAX_INT32


def complete(d: Obj, status: Obj) -> bool:
    n = replicas(d)
    return (int(status.get("updatedReplicas") or 0) == n and int(status.get("replicas") or 0) == n
            and int(status.get("availableReplicas") or 0) == n
            and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0))


def progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}

    def g(s: Obj, k: str) -> int:
        return int(s.get(k) or 0)
    return (g(new, "updatedReplicas") > g(old, "updatedReplicas")
            or g(new, "replicas") - g(new, "updatedReplicas") < g(old, "replicas") - g(old, "updatedReplicas")
            or g(new, "readyReplicas") > g(old, "readyReplicas")
            or g(new, "availableReplicas") > g(old, "availableReplicas"))


def timed_out(d: Obj, status: Obj, now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    c = condition(status, PROGRESSING)
    if c is None or c.get("reason") == NEW_RS_AVAILABLE:
        return False
    if c.get("reason") == TIMED_OUT:
        return True
    try:
        since = parse_rfc3339(c.get("lastUpdateTime") or "")
    except ValueError:
        return False
    return since + int(d["spec"]["progressDeadlineSeconds"]) < now
