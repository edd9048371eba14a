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

Bounded waits: a caller whose work no leader has taken within ``PICKUP_SECONDS``
withdraws it and gets ``StoreUnavailable("locked")``; a leader waits at most
``LOCK_SECONDS`` for the process lock and SQLite's write lock together, so a
lock held for minutes elsewhere is a 503 within about five seconds for every
caller, never a queue that lasts the lock's whole duration. A connection that
saw a store fault is closed; the next leader opens a fresh one, so the group
recovers as soon as the fault clears.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import sqlite_utils

from adapter.store.connection import BUSY_TIMEOUT_SECONDS, write_transaction
from adapter.store.faults import StoreUnavailable, fault_of

MAX_GROUP = 256  # calls per transaction; bounds the work lost to one failing COMMIT
LEADER_ROUNDS = 8
FOLLOWER_RECHECK_SECONDS = 0.05
# A caller's work is taken by a leader within PICKUP_SECONDS or withdrawn; a leader holds it at most
# LOCK_SECONDS waiting for locks (then the COMMIT's own fsync): about 5 s in all, the bound.
PICKUP_SECONDS = 2.5
LOCK_SECONDS = 2.5


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
        """Hand ``item`` to the group; return its result (or raise its error) once the group is durable.

        ``StoreUnavailable`` when the store's locks stay taken (see the module docstring)."""
        self._for_this_process()
        future: Future = Future()
        self._queue.put((item, future))
        give_up = time.monotonic() + PICKUP_SECONDS
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
                # Not taken by a leader in time (the leader is stuck on a lock): withdraw. Once taken
                # (running), the leader's own bound applies and the answer is coming.
                if time.monotonic() >= give_up and future.cancel():
                    raise StoreUnavailable("locked", f"the write lock stayed taken for {PICKUP_SECONDS:g} s") \
                        from None
                continue

    def _lead(self) -> None:
        group: list[tuple[Any, Future[Any]]] = []  # (item, its caller's future)
        deadline = time.monotonic() + LOCK_SECONDS
        try:
            if self._db is None:
                self._db = self._connect()
            if self._lock_path is not None and self._lock_fd is None:
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except Exception as exc:  # the store cannot be opened: every waiting caller learns why
            self._fail_queued(exc)
            return
        held = self._lock_within(deadline) if self._lock_fd is not None else None
        if self._lock_fd is not None and held is None:
            self._fail_queued(StoreUnavailable("locked", f"another process held the intake lock for "
                                                         f"{LOCK_SECONDS:g} s"))
            return
        try:
            # Drained after getting the lock: calls that arrived while another process was
            # committing join this group instead of waiting for the next fsync.
            while len(group) < MAX_GROUP:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry[1].set_running_or_notify_cancel():  # False: its caller withdrew it
                    group.append(entry)
            if group:
                self._commit(self._db, group, deadline)
        finally:
            if held is not None:
                self._unlock(held)

    def _fail_queued(self, exc: Exception) -> None:
        while True:
            try:
                _, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(exc)

    def _lock_within(self, deadline: float) -> int | None:
        """The process lock, taken before ``deadline``: the descriptor holding it, or None.

        Uncontended it is one non-blocking flock. Contended, a helper thread blocks in flock on its own
        descriptor (flock wakes it the moment the holder lets go, unlike polling) while this thread waits
        until the deadline; a helper that gets the lock after its leader gave up lets go at once.
        """
        assert self._lock_fd is not None and self._lock_path is not None  # only called with a lock file
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return self._lock_fd
        except BlockingIOError:
            pass
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        taken, decided = threading.Event(), threading.Lock()
        state = {"abandoned": False}

        def take() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with decided:
                if state["abandoned"]:
                    os.close(fd)  # closing the descriptor releases its lock
                    return
                taken.set()

        threading.Thread(target=take, name="seatsync-intake-lock", daemon=True).start()
        taken.wait(max(0.0, deadline - time.monotonic()))
        with decided:
            if taken.is_set():
                return fd
            state["abandoned"] = True
            return None

    def _unlock(self, fd: int) -> None:
        if fd == self._lock_fd:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            os.close(fd)  # a helper's descriptor: closing it releases the lock

    def _commit(self, db: sqlite_utils.Database, group: list, deadline: float) -> None:
        # SQLite's write lock is waited for only as long as this group's bound leaves.
        wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
        try:
            db.execute(f"PRAGMA busy_timeout={wait_ms}")
            try:
                with write_transaction(db):
                    outcomes = self._apply_group(db, [item for item, _ in group])
            finally:
                try:
                    db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
                except Exception:  # noqa: BLE001, S110 - a broken connection; the error above is the one to report
                    pass
        except Exception as exc:  # nothing of the group was stored: every caller learns why
            if fault_of(exc) is not None:
                # A connection that saw a fault can keep failing after the fault clears: reopen.
                self._db = None
                try:
                    db.close()
                except Exception:  # noqa: BLE001, S110 - closing a broken connection may fail too
                    pass
            for _, future in group:
                future.set_exception(exc)
            return
        for outcome, (_, future) in zip(outcomes, group):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
