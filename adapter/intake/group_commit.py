"""Group commit: many concurrent writers share one SQLite transaction and one fsync.

With ``synchronous=FULL`` every COMMIT waits for the disk, and SQLite lets one
writer in at a time, so committing each request on its own caps intake at one
request per commit. Here callers queue their work; whichever caller finds no
commit in progress in its process becomes the leader: it takes everything
queued at that moment, writes it inside one ``BEGIN IMMEDIATE`` transaction,
COMMITs once, and only then wakes the others. Under no load a group is one
call (no added wait, no thread hand-off); under load the group grows while the
previous COMMIT is on disk.

Across processes (gunicorn workers) the writers take an exclusive ``flock`` on
``lock_path`` around each transaction. SQLite's own busy handler makes a
blocked writer sleep 1, 2, 5, ... 100 ms between retries, which under load
cost more than half the throughput and gave 100+ ms tail latencies; a kernel
lock wakes the next writer the moment the previous one commits.

Isolation: a function that raises has its savepoint rolled back and gets the
exception; the others in the group are unaffected. If the COMMIT itself fails,
every caller in the group gets that error: nothing of theirs was stored.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import sqlite_utils

from adapter.store.connection import write_transaction

MAX_GROUP = 256  # calls per transaction; bounds the work lost to one failing COMMIT
LEADER_ROUNDS = 8
FOLLOWER_RECHECK_SECONDS = 0.05


def each_in_savepoint(db: sqlite_utils.Database, works: list[Callable]) -> list:
    """The default group: each item is a function of ``db``, run in its own SAVEPOINT."""
    outcomes = []
    for work in works:
        try:
            with db.atomic():  # a failure undoes this call only
                outcomes.append(work(db))
        except Exception as exc:  # handed to its caller
            outcomes.append(exc)
    return outcomes


class GroupCommitter:
    """Leader/follower group commit over one connection per process, made by ``connect``.

    ``apply_group(db, items)`` writes a whole group inside the open transaction
    and returns, per item, its result or the exception its caller should get
    (``each_in_savepoint`` by default; the intake passes ``ledger.record_batches``,
    which does one lookup and one insert per table for the whole group).
    """

    def __init__(self, connect: Callable[[], sqlite_utils.Database],
                 apply_group: Callable[[sqlite_utils.Database, list], list] = each_in_savepoint, *,
                 lock_path: str | os.PathLike | None = None):
        self._connect = connect
        self._apply_group = apply_group
        self._lock_path = lock_path
        self._setup = threading.Lock()
        self._pid: int | None = None

    def _for_this_process(self) -> None:
        # gunicorn forks the preloaded app: queue, leader lock and connection belong to one process.
        if self._pid == os.getpid():
            return
        with self._setup:
            if self._pid != os.getpid():
                self._queue: queue.SimpleQueue = queue.SimpleQueue()
                self._leader = threading.Lock()
                self._db: sqlite_utils.Database | None = None
                self._lock_fd: int | None = None
                self._pid = os.getpid()

    def run(self, item):
        """Hand ``item`` to the group; return its result (or raise its error) once the group is durable."""
        self._for_this_process()
        future: Future = Future()
        self._queue.put((item, future))
        while True:
            # Lead while there is work and nobody else leads; a leader re-checks the queue after
            # letting go, so work queued while it committed is not stranded. The rounds are
            # capped so one caller's answer is not held up forever under sustained load; the
            # waiters' periodic re-check below picks up from there.
            for _ in range(LEADER_ROUNDS):
                if self._queue.empty() or not self._leader.acquire(blocking=False):
                    break
                try:
                    self._lead()
                finally:
                    self._leader.release()
            try:
                return future.result(timeout=FOLLOWER_RECHECK_SECONDS)
            except FutureTimeout:
                continue

    def _lead(self) -> None:
        group: list[tuple[Any, Future[Any]]] = []  # (item, its caller's future)
        if self._db is None:
            self._db = self._connect()
            if self._lock_path is not None:
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            # Drained after getting the lock: calls that arrived while another process was
            # committing join this group instead of waiting for the next fsync.
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if group:
                self._commit(self._db, group)
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _commit(self, db: sqlite_utils.Database, group: list) -> None:
        try:
            with write_transaction(db):
                outcomes = self._apply_group(db, [item for item, _ in group])
        except Exception as exc:  # nothing of the group was stored: every caller learns why
            for _, future in group:
                future.set_exception(exc)
            return
        for outcome, (_, future) in zip(outcomes, group):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
