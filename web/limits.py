"""Flood defence that needs no identity: global token buckets and per-code attempt counts.

Nothing here knows who is asking. Limits hold per process; with several web processes
each keeps its own (docs/deploy.md says so).
"""

from __future__ import annotations

import time
from collections import OrderedDict


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; :meth:`take` says whether one was left."""

    def __init__(self, *, per_minute: int, burst: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def empty(self) -> bool:
        self._refill()
        return self._tokens < 1.0


class AttemptCounter:
    """Attempts per key (a keyed hash of what was typed) within a window; bounded memory."""

    def __init__(self, *, limit: int, window_seconds: float, max_keys: int = 100_000) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._seen: OrderedDict[bytes, tuple[int, float]] = OrderedDict()

    def exceeded(self, key: bytes) -> bool:
        count, _since = self._current(key)
        return count >= self._limit

    def record(self, key: bytes) -> None:
        count, since = self._current(key)
        self._seen[key] = (count + 1, since)
        self._seen.move_to_end(key)
        while len(self._seen) > self._max_keys:
            self._seen.popitem(last=False)

    def _current(self, key: bytes) -> tuple[int, float]:
        now = time.monotonic()
        entry = self._seen.get(key)
        if entry is None or now - entry[1] > self._window:
            return 0, now
        return entry
