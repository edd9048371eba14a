"""One database connection per request, Flask-tutorial style."""

from __future__ import annotations

from flask import Flask, current_app, g

from adapter.store import open_db


def get_db():
    if "db" not in g:
        g.db = open_db(current_app.config["SEATSYNC"].database, migrate=False)
    return g.db


def close_db(_exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
