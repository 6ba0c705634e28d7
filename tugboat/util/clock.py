"""Injectable time, so TTLs, grace periods and timestamps are testable without sleeping.

Kubernetes timestamps are RFC 3339 in UTC with second precision (`metav1.Time`), except
MicroTime fields; `rfc3339()` produces the former.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall clock + monotonic clock. Tests substitute `FakeClock`."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def rfc3339(self, offset_seconds: float = 0) -> str:
        return rfc3339(self.time() + offset_seconds)


class FakeClock(Clock):
    def __init__(self, start: float = 1_700_000_000.0):
        self.t = start
        self.m = 0.0

    def time(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.m

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.m += seconds


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (`Z` or offset form)."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
