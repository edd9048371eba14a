"""The database connection for a request: one long-lived connection per server thread.

Opening and closing a connection per request (the Flask tutorial's way) costs
a WAL checkpoint whenever the closing connection is the process's last one:
17-28 ms per webhook instead of ~3 ms, measured on the provider receivers. A
gunicorn thread serves one request at a time, so its connection is never
shared; a request that fails mid-transaction is rolled back at teardown so the
next request on the thread starts clean.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from flask import Flask, current_app

from adapter.store.connection import open_db
from adapter.store.faults import StoreUnavailable, fault_of

from .problems import Problem, problem_response

log = logging.getLogger(__name__)
_local = threading.local()


def get_db():
    database = str(current_app.config["SEATSYNC"].database)
    if getattr(_local, "database", None) != database:
        # Another app on this thread (tests build many): keep one connection, not one per app.
        previous = getattr(_local, "db", None)
        if previous is not None:
            previous.close()
        _local.db, _local.database = open_db(database, migrate=False), database
    return _local.db


def discard():
    """Close this thread's connection: one that saw a store fault can keep failing after the fault
    clears (a long-lived connection keeps its failed state), so the next request opens a fresh one."""
    db = getattr(_local, "db", None)
    _local.db = _local.database = None
    if db is not None:
        try:
            db.close()
        except sqlite3.Error:
            pass


def rollback_open_transaction(_exc=None):
    db = getattr(_local, "db", None)
    if db is not None and db.conn.in_transaction:
        try:
            db.conn.rollback()
        except sqlite3.Error:
            discard()


def store_fault_response(exc: Exception):
    """A store fault → 503 + Retry-After, the problem naming the cause; nothing was stored."""
    fault = fault_of(exc)
    if fault is None:  # a constraint or programming error is a bug: the generic 500, logged
        log.error("store error", exc_info=exc)
        return problem_response(Problem(500, "Internal Server Error",
                                        "The error was logged; nothing about it is exposed here."))
    discard()
    log.warning("store %s: %s", fault.cause, fault.detail)
    problem = Problem(503, "Store unavailable",
                      f"the database is {fault.phrase}; nothing was stored. Retry after {fault.retry_after} s",
                      errors=[{"field": "SEATSYNC_DATABASE", "reason": fault.cause}],
                      slug=f"store-{fault.cause.replace(' ', '-').replace('/', '').lower()}")
    return problem_response(problem, headers={"Retry-After": str(fault.retry_after)})


def init_app(app: Flask) -> None:
    app.teardown_appcontext(rollback_open_transaction)
    app.register_error_handler(sqlite3.Error, store_fault_response)
    app.register_error_handler(StoreUnavailable, store_fault_response)
