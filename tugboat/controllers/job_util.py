"""Pure helpers of the Job controller: conditions, completion indexes, pod back-off.

Kept apart from the controller so the rules users see (condition types and reasons, the
`completedIndexes` interval syntax, the 10 s × 2^n back-off capped at 6 min) are easy to check
against upstream's job_controller.go / indexed_job_utils.go / backoff_utils.go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tugboat.util.clock import rfc3339

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0

# (condition type, reason, message) as upstream
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


def get_condition(job: Mapping[str, Any], ctype: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype and c.get("status") == "True":
            return dict(c)
    return None


def is_finished(job: Mapping[str, Any]) -> bool:
    return get_condition(job, "Complete") is not None or get_condition(job, "Failed") is not None


def set_condition(conditions: list[Obj], ctype: str, status: str, reason: str, message: str,
                  now: float) -> bool:
    """Add or update a condition in place (lastTransitionTime moves only when status changes);
    True when something changed."""
    ts = rfc3339(now)
    for c in conditions:
        if c.get("type") == ctype:
            if c.get("status") == status and c.get("reason") == reason and c.get("message") == message:
                return False
            if c.get("status") != status:
                c["lastTransitionTime"] = ts
            c.update(status=status, reason=reason, message=message, lastProbeTime=ts)
            return True
    conditions.append({"type": ctype, "status": status, "lastProbeTime": ts, "lastTransitionTime": ts,
                       "reason": reason, "message": message})
    return True


def parse_indexes(s: str | None, completions: int) -> set[int]:
    """`"1,3-5,7"` → {1,3,4,5,7} (values ≥ completions dropped, as upstream)."""
    out: set[int] = set()
    for part in (s or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            continue
        out.update(i for i in range(a, b + 1) if i < completions)
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """Sorted intervals: {1,3,4,5,7} → `"1,3-5,7"`."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(set(indexes)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(parts)


def pod_index(pod: Mapping[str, Any]) -> int | None:
    md = pod.get("metadata") or {}
    v = (md.get("annotations") or {}).get(COMPLETION_INDEX) or (md.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def backoff_delay(failures_after_success: int) -> float:
    """Delay before re-creating a pod after the n-th consecutive failure."""
    if failures_after_success <= 0:
        return 0.0
    return min(DEFAULT_BACKOFF * (2 ** min(failures_after_success - 1, 16)), MAX_BACKOFF)


def want_active(spec: Mapping[str, Any], succeeded: int, active: int) -> int:
    """How many pods should be running now (upstream manageJob)."""
    parallelism = int(spec.get("parallelism") or 0)
    completions = spec.get("completions")
    if completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(int(completions) - succeeded, parallelism))
