"""Token buckets: the client's QPS/burst limit and the work queue's overall limiter.

Controllers run tight loops; a bug that re-queues forever must slow down, not flood the API
server. `reserve()` is clock-agnostic (it takes `now` and returns how long to wait), so the
same bucket serves the HTTP client (real time) and the work queue (injectable clock).
"""

from __future__ import annotations

import asyncio


class TokenBucket:
    """`qps` tokens per second, at most `burst` saved up; reservations may go into debt."""

    def __init__(self, qps: float, burst: int):
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps = float(qps)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token; return the seconds to wait before using it (0 if available now)."""
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps


class AsyncRateLimiter:
    """Awaitable wrapper for real time: `await limiter.wait()` before each request."""

    def __init__(self, qps: float, burst: int):
        self.bucket = TokenBucket(qps, burst) if qps > 0 else None

    async def wait(self) -> None:
        if self.bucket is None:
            return
        delay = self.bucket.reserve(asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)
