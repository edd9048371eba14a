"""A sliding-window rate limiter (Stripe's requests/s and quantity updates/hour, Chargebee's 150/min)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (None = unlimited)."""

    def __init__(self, limit: int | None, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def configure(self, limit: int | None, window: float | None = None) -> None:
        with self._lock:
            self.limit = limit
            if window is not None:
                self.window = window
            self._hits.clear()

    def allow(self, key: Any = None) -> bool:
        if self.limit is None:
            return True
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
