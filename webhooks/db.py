"""The database connection for a request: one long-lived connection per server thread.

Opening and closing a connection per request (the Flask tutorial's way) costs
a WAL checkpoint whenever the closing connection is the process's last one:
17-28 ms per webhook instead of ~3 ms, measured on the provider receivers. A
gunicorn thread serves one request at a time, so its connection is never
shared; a request that fails mid-transaction is rolled back at teardown so the
next request on the thread starts clean.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from adapter.store.connection import open_db

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


def rollback_open_transaction(_exc=None):
    db = getattr(_local, "db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(rollback_open_transaction)
