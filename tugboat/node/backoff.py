"""Per-key exponential back-off with upstream kubelet semantics (flowcontrol.Backoff).

Used for container restarts (key pod uid + container name) and image pulls (key image).
`next(key, event_time)` records a failure that happened at `event_time`: the first one gets
the initial delay (10 s), each further one doubles it up to the cap (300 s); if more than
2 × cap (10 minutes) passed since the previous entry, it starts over — that is the "reset
after 10 minutes of running". `in_backoff_since(key, event_time)` is true while less than
the current delay has passed since `event_time`. So a container that dies instantly restarts
immediately, then after 10 s, 20 s, 40 s … as upstream does.
"""

from __future__ import annotations

from dataclasses import dataclass

from tugboat.client.clock import AsyncClock


@dataclass(slots=True)
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, clock: AsyncClock, initial: float = 10.0, cap: float = 300.0):
        self.clock = clock
        self.initial = initial
        self.cap = cap
        self._entries: dict[str, _Entry] = {}

    def _expired(self, event_time: float, e: _Entry) -> bool:
        return event_time - e.last_update > 2 * self.cap

    def next(self, key: str, event_time: float) -> None:
        e = self._entries.get(key)
        if e is None or self._expired(event_time, e):
            self._entries[key] = _Entry(self.initial, event_time)
        else:
            e.delay = min(e.delay * 2, self.cap)
            e.last_update = event_time

    def get(self, key: str) -> float:
        e = self._entries.get(key)
        return e.delay if e else 0.0

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        e = self._entries.get(key)
        if e is None or self._expired(event_time, e):
            return False
        return self.clock.time() - event_time < e.delay

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until `in_backoff_since(key, event_time)` turns false."""
        e = self._entries.get(key)
        if e is None:
            return 0.0
        return max(0.0, event_time + e.delay - self.clock.time())

    def forget_prefix(self, prefix: str) -> None:
        for k in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[k]

    def gc(self) -> None:
        now = self.clock.time()
        for k in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.cap]:
            del self._entries[k]

    def in_backoff_since_update(self, key: str) -> bool:
        """Image pulls: in back-off while less than the delay passed since the last failure."""
        e = self._entries.get(key)
        if e is None or self._expired(self.clock.time(), e):
            return False
        return self.clock.time() - e.last_update < e.delay

    def remaining_since_update(self, key: str) -> float:
        e = self._entries.get(key)
        return 0.0 if e is None else max(0.0, e.last_update + e.delay - self.clock.time())
