"""Group commit: many concurrent writers share one SQLite transaction and one fsync.

With ``synchronous=FULL`` every COMMIT waits for the disk, and SQLite lets one
writer in at a time, so committing each request on its own caps intake at one
request per commit. Here each process has one writer thread: callers hand it a
function and block; the thread takes everything queued at that moment, runs
each function in its own SAVEPOINT inside one ``BEGIN IMMEDIATE`` transaction,
COMMITs once, and only then wakes the callers. Under no load a group is one
call (no added wait); under load the group grows while the previous COMMIT is
on disk.

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
from concurrent.futures import Future
from typing import Callable

import sqlite_utils

from adapter.store import write_transaction

MAX_GROUP = 256  # calls per transaction; bounds the work lost to one failing COMMIT


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
    """One writer thread per process over one connection made by ``connect``.

    ``apply_group(db, items)`` writes a whole group inside the open transaction
    and returns, per item, its result or the exception its caller should get
    (``each_in_savepoint`` by default; the intake passes ``ledger.record_batches``,
    which does one lookup and one insert per table for the whole group).

    The thread starts on first use (threads do not survive gunicorn's fork of
    the preloaded app) and stops, closing its connection, after ``idle_seconds``
    without work; the next call starts a new one.
    """

    def __init__(self, connect: Callable[[], sqlite_utils.Database],
                 apply_group: Callable[[sqlite_utils.Database, list], list] = each_in_savepoint, *,
                 lock_path: str | os.PathLike | None = None, idle_seconds: float = 10.0):
        self._connect = connect
        self._apply_group = apply_group
        self._lock_path = lock_path
        self._idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[tuple[Callable, Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running_in: int | None = None  # pid whose writer thread is alive

    def run(self, item):
        """Hand ``item`` to the group; return its result (or raise its error) once the group is durable."""
        future: Future = Future()
        # Enqueue under the lock the writer takes before it decides to stop, so no call is stranded.
        with self._lock:
            if self._running_in != os.getpid():
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._loop, args=(self._queue,), name="seatsync-group-commit",
                                 daemon=True).start()
                self._running_in = os.getpid()
            self._queue.put((item, future))
        return future.result()

    def _wait_for_work(self, work_queue: queue.SimpleQueue) -> tuple | None:
        """The next call, or None when idle long enough to stop (checked under the enqueue lock)."""
        try:
            return work_queue.get(timeout=self._idle_seconds)
        except queue.Empty:
            with self._lock:
                if work_queue.empty():
                    self._running_in = None
                    return None
            return work_queue.get()

    @staticmethod
    def _drain(work_queue: queue.SimpleQueue, group: list) -> list:
        while len(group) < MAX_GROUP:
            try:
                group.append(work_queue.get_nowait())
            except queue.Empty:
                break
        return group

    def _loop(self, work_queue: queue.SimpleQueue) -> None:
        db = self._connect()
        lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600) if self._lock_path else None
        try:
            while (first := self._wait_for_work(work_queue)) is not None:
                if lock_fd is not None:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX)
                try:
                    # Drain after getting the lock: calls that arrived while another process
                    # was committing join this group instead of waiting for the next fsync.
                    self._commit(db, self._drain(work_queue, [first]))
                finally:
                    if lock_fd is not None:
                        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
            db.close()

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
