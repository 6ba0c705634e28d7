"""Schedule arithmetic of the CronJob controller (upstream cronjob/utils.go), pure functions.

`most_recent_schedule` answers "which start time is due now?" the way upstream does: start
from the last schedule time (or the creation time), never earlier than now −
startingDeadlineSeconds, and count missed times by the interval between the next two
activations instead of enumerating them — a CronJob whose controller was down for a year must
not make us walk half a million minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tugboat.api.kinds.batch_cron import Schedule, parse_schedule
from tugboat.util.clock import parse_rfc3339

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # upstream requeues 100 ms after the next activation


def schedule_of(cj: Mapping[str, Any]) -> Schedule:
    """The CronJob's schedule in its spec.timeZone (ValueError/CronError if unparseable)."""
    spec = cj.get("spec") or {}
    text = str(spec.get("schedule") or "")
    tz = spec.get("timeZone")
    return parse_schedule(f"TZ={tz} {text}" if tz else text)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def most_recent_schedule(cj: Mapping[str, Any], now: float, sched: Schedule,
                         with_deadline: bool = True) -> tuple[datetime | None, int]:
    """(the most recent unmet activation ≤ now or None, how many were missed)."""
    md = cj.get("metadata") or {}
    status = cj.get("status") or {}
    last = status.get("lastScheduleTime") or md.get("creationTimestamp")
    earliest = parse_rfc3339(last) if last else now
    sds = (cj.get("spec") or {}).get("startingDeadlineSeconds")
    if with_deadline and sds is not None:
        earliest = max(earliest, now - int(sds))
    t1 = sched.next_after(_dt(earliest))
    if t1 is None or t1.timestamp() > now:
        return None, 0
    t2 = sched.next_after(t1)
    if t2 is None or t2.timestamp() > now:
        return t1, 1
    gap = round((t2 - t1).total_seconds())
    if gap < 1:
        return None, 0
    missed = int((now - t1.timestamp()) // gap) + 1
    t = sched.next_after(t1 + timedelta(seconds=(missed - 2) * gap))
    recent = None
    while t is not None and t.timestamp() <= now:
        recent = t
        t = sched.next_after(t)
    return recent, missed


def next_schedule_in(now: float, sched: Schedule) -> float | None:
    """Seconds until shortly after the next activation (the requeue delay)."""
    nxt = sched.next_after(_dt(now))
    if nxt is None:
        return None
    return max(0.0, nxt.timestamp() - now) + NEXT_SCHEDULE_DELTA


def job_name(cj_name: str, scheduled: datetime) -> str:
    """`<cronjob>-<scheduled time in minutes since the epoch>` (upstream getJobName)."""
    return f"{cj_name}-{int(scheduled.timestamp()) // 60}"


def scheduled_annotation(scheduled: datetime, sched: Schedule) -> str:
    """RFC 3339 in the schedule's zone, e.g. `2024-01-01T09:00:00+01:00` (or `...Z` in UTC)."""
    loc = sched.location or UTC
    local = scheduled.astimezone(loc)
    s = local.isoformat(timespec="seconds")
    return s.replace("+00:00", "Z") if local.utcoffset() == timedelta(0) else s
