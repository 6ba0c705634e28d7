"""Cron schedules exactly as CronJobs accept them (robfig/cron v3 `ParseStandard`).

The API server rejects a CronJob whose schedule this parser rejects, with the parser's own
error text (users see it from `kubectl apply`), and the CronJob controller needs the same
grammar to compute run times, so both use `parse_schedule`. Five fields (minute hour
day-of-month month day-of-week), `*`/`?`, ranges, steps, lists, month/day names, the
`@hourly`… descriptors, `@every <duration>` and a leading `TZ=`/`CRON_TZ=` zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {n: i + 1 for i, n in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (min, max, names) for minute, hour, day-of-month, month, day-of-week
_BOUNDS: list[tuple[int, int, dict[str, int] | None]] = [
    (0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS)]
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_ATOI = re.compile(r"^[+-]?[0-9]+$")
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
TZ_CHARS = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


class CronError(ValueError):
    """A schedule the parser rejects; str() is robfig/cron's message."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: allowed values per field, or a fixed interval (`@every`)."""

    fields: tuple[frozenset[int], ...] = ()
    dom_star: bool = False
    dow_star: bool = False
    every: timedelta | None = None
    location: tzinfo | None = None

    def _day_matches(self, d: datetime) -> bool:
        dom_ok = d.day in self.fields[2]
        dow_ok = (d.isoweekday() % 7) in self.fields[4]
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, t: datetime) -> datetime | None:
        """The first activation strictly after `t` (an aware datetime), or None within 5 years."""
        if self.every is not None:
            step = max(self.every, timedelta(seconds=1))
            return t.replace(microsecond=0) + timedelta(seconds=int(step.total_seconds()))
        loc = self.location or t.tzinfo
        cur = (t.astimezone(loc) if loc else t).replace(second=0, microsecond=0) + timedelta(minutes=1)
        minutes, hours, _, months, _ = self.fields
        day = cur.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if day.month in months and self._day_matches(day):
                for h in sorted(hours):
                    for m in sorted(minutes):
                        cand = day.replace(hour=h, minute=m)
                        if cand >= cur:
                            return cand
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None


def _atoi(expr: str) -> int:
    if not _ATOI.match(expr):
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax')
    num = int(expr)
    if num < 0:
        raise CronError(f"negative number ({num}) not allowed: {expr}")
    return num


def _int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    return _atoi(expr)


def _parse_range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = lo, hi, True
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if len(low_high) == 1:
            end = hi  # "N/step" means "N-max/step"
        if step > 1:
            star = False
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _parse_duration(s: str) -> timedelta:
    """Go's time.ParseDuration for the positive durations `@every` takes."""
    body = s[1:] if s[:1] in "+-" else s
    if body == "0":
        return timedelta(0)
    pos, total = 0, 0.0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m:
            raise CronError(f'time: invalid duration "{s}"')
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not body:
        raise CronError(f'time: invalid duration "{s}"')
    return timedelta(seconds=-total if s.startswith("-") else total)


def load_location(name: str) -> tzinfo:
    """Go's time.LoadLocation, with its error text."""
    if name == "UTC" or name == "":
        return ZoneInfo("UTC")
    try:
        if any(p in (".", "..") for p in name.split("/")):
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise CronError(f"unknown time zone {name}") from e


def parse_schedule(spec: str) -> Schedule:
    """Parse like robfig/cron ParseStandard; raises CronError with its message."""
    if not spec:
        raise CronError("empty spec string")
    loc: tzinfo | None = None
    if spec.startswith(("TZ=", "CRON_TZ=")):
        i, eq = spec.find(" "), spec.find("=")
        name = spec[eq + 1:i] if i >= 0 else spec[eq + 1:]
        try:
            loc = load_location(name)
        except CronError as e:
            raise CronError(f"provided bad location {name}: {e}") from None
        spec = spec[i:].strip() if i >= 0 else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            try:
                return Schedule(every=_parse_duration(spec[len("@every "):]), location=loc)
            except CronError as e:
                raise CronError(f"failed to parse duration {spec}: {e}") from None
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    sets: list[frozenset[int]] = []
    stars: list[bool] = []
    for text, (lo, hi, names) in zip(fields, _BOUNDS, strict=True):
        values: set[int] = set()
        star = False
        for expr in (e for e in text.split(",") if e):
            vs, st = _parse_range(expr, lo, hi, names)
            values |= vs
            star = star or st
        sets.append(frozenset(values))
        stars.append(star)
    return Schedule(tuple(sets), dom_star=stars[2], dow_star=stars[4], location=loc)


def schedule_error(spec: str) -> str | None:
    try:
        parse_schedule(spec)
    except CronError as e:
        return str(e)
    return None
