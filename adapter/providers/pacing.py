"""Pacing: one request budget per provider account key, shared by every thread and process on one machine.

A provider limits requests per account key (Stripe: 25 operations per second in test mode, 100 live;
Chargebee: 150 per minute on test sites, 150-3,500 live by plan; docs/providers.md#rate-limits).
A worker that sends as fast as it can spends a third of that budget on 429s and backs accounts off for
a minute.
So every SDK request first takes a slot from a sliding-window log (pyrate-limiter's SQLite bucket,
file-locked so ``serve`` and ``seatsync worker`` processes share it) sized a little under the
provider's limit, and a 429 that says how long to wait (``Retry-After``) pauses every sender of that
key until then, not only the one that was refused.

Hooks: Stripe's ``StripeClient(http_client=...)`` and Chargebee's ``telemetry_adapter``, both of
which each SDK calls once per HTTP request (``adapter/providers/``).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from pathlib import Path

from pyrate_limiter import Limiter, Rate, SQLiteBucket

log = logging.getLogger(__name__)

class Pacer:
    """Blocks each request until the key's budget has room; pauses everyone on a Retry-After."""

    def __init__(self, key: str, per_second: float, directory: Path, *, window_seconds: float = 1.0):
        self.per_second = per_second
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "pacing.sqlite"
        table = "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]
        # The provider's own window (Stripe counts per second, Chargebee per minute), so the same bursts
        # are allowed: N whole requests per window.
        window_ms = int(window_seconds * 1000)
        count = max(1, int(per_second * window_seconds + 1e-9))
        rates = [Rate(count, window_ms)]
        if count >= 4:
            # Spread each window's requests over its halves: a whole window's worth sent at once lands,
            # after network jitter, partly in the provider's next window, which is where 429s come from.
            rates.insert(0, Rate(-(-count // 2), window_ms // 2))
        self._limiter = Limiter(SQLiteBucket.init_from_file(rates, table=table, db_path=str(path),
                                                            use_file_lock=True), buffer_ms=2)
        self._pauses = _Pauses(path, table)

    def acquire(self) -> None:
        try:
            self._pauses.wait()
            self._limiter.try_acquire("request", blocking=True)
        except (sqlite3.Error, OSError) as exc:
            # Pacing is a courtesy to the provider, not a reason to fail a sync: a broken pacing file
            # sends unpaced (the provider's 429s are still retried) and says so.
            log.warning("pacing unavailable (%s): sending without it", exc)

    def pause(self, seconds: float) -> None:
        """The provider said to wait: nobody sends with this key until then."""
        self._pauses.pause_until(time.time() + seconds)


class _Pauses:
    """``until`` per key in the pacing file, read before every request (cheap: one indexed row)."""

    def __init__(self, path: Path, key: str):
        self._path = path
        self._key = key
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        if not hasattr(self._local, "db"):
            self._local.db = sqlite3.connect(self._path, timeout=5)
            self._local.db.execute("CREATE TABLE IF NOT EXISTS pauses (key TEXT PRIMARY KEY, until REAL NOT NULL)")
        return self._local.db

    def wait(self) -> None:
        row = self._db().execute("SELECT until FROM pauses WHERE key = ?", [self._key]).fetchone()
        if row and row[0] > time.time():
            time.sleep(min(row[0] - time.time(), 60.0))

    def pause_until(self, until: float) -> None:
        with self._db() as db:
            db.execute("INSERT INTO pauses (key, until) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                       "until = MAX(until, excluded.until)", [self._key, until])


_pacers: dict[tuple[str, str, str, float], Pacer] = {}
_lock = threading.Lock()


# The window each provider counts its request limit over (docs/providers.md).
WINDOWS = {"stripe": 1.0, "chargebee": 60.0}


def pacer_for(provider: str, key: str, per_second: float | None, directory: Path) -> Pacer | None:
    """The process's pacer for one provider key (None: pacing is off)."""
    if not per_second:
        return None
    with _lock:
        slot = (provider, key, str(directory), per_second)
        found = _pacers.get(slot)
        if found is None:
            found = _pacers[slot] = Pacer(f"{provider}:{key}", per_second, directory,
                                          window_seconds=WINDOWS[provider])
        return found
