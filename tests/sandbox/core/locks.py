"""Per-object write locks: the providers' 429 ``lock_timeout`` for a concurrent writer."""

from __future__ import annotations

import threading


class ObjectLocks:
    """Per-object write locks: a second concurrent writer is refused, not queued.

    Providers answer concurrent writes to one subscription with 429
    ``lock_timeout``; ``try_hold`` reproduces that. ``hold_for`` lets a test
    keep an object locked (as if another request were writing it) for a while.
    """

    def __init__(self):
        self._held: dict[str, threading.Lock] = {}
        self._timers: dict[str, threading.Timer] = {}  # hold_for's pending releases
        self._guard = threading.Lock()

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._held.setdefault(key, threading.Lock())

    def acquire(self, key: str, wait: float = 0.0) -> bool:
        lock = self._lock_for(key)
        return lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)

    def release(self, key: str) -> None:
        """Release now; a pending ``hold_for`` timer on ``key`` is cancelled (else it would later
        release a lock somebody else holds by then, or raise on an unlocked one)."""
        with self._guard:
            timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._lock_for(key).release()

    def hold_for(self, key: str, seconds: float) -> bool:
        """Lock ``key`` now and release it after ``seconds`` on a timer thread."""
        if not self.acquire(key):
            return False
        timer = threading.Timer(seconds, self._expire_hold, args=(key,))
        timer.daemon = True
        with self._guard:
            self._timers[key] = timer
        timer.start()
        return True

    def _expire_hold(self, key: str) -> None:
        with self._guard:
            if self._timers.pop(key, None) is None:
                return  # released by hand before the time was up
        self._lock_for(key).release()
