"""The ``seatsync`` command group and what its commands share: settings, the database, instants.

Commands print tables for people and ``--format json`` for scripts; a bad setting or argument ends
with one line naming it and a non-zero exit.
"""

from __future__ import annotations

import os

import click

from adapter.config import ConfigError, Settings, load_settings, with_embedded_defaults

# gunicorn reads its settings from a module of the package (``python:`` config), so an installed seatsync
# needs no file of the source tree.
GUNICORN_CONF = "python:webhooks.gunicorn_conf"


def get_settings(ctx: click.Context, *, join_embedded: bool = True) -> Settings:
    """Settings for this invocation, loaded once; a bad setting exits with one line.

    With no provider keys configured and a ``seatsync serve`` of the embedded world running on the same
    database, a command joins that world: its sandbox and its catalogue (``join_embedded``).
    """
    root = ctx.find_root()
    if "settings" not in root.meta:
        try:
            settings = load_settings()
            if join_embedded and not settings.has_provider_keys and "SEATSYNC_MAPPINGS" not in os.environ:
                from adapter.embedded import session_env

                session = session_env(settings.database)
                if session is not None:
                    settings = load_settings({**os.environ, **session})
            root.meta["settings"] = with_embedded_defaults(settings)
        except ConfigError as exc:
            click.echo(f"seatsync: configuration error: {exc}", err=True)
            ctx.exit(2)
    return root.meta["settings"]


@click.group()
@click.version_option(package_name="seatsync")
def cli():
    """seatsync: per-seat billing adapter for Stripe and Chargebee."""


def _instant(value: str | None, option: str = "--at", ctx: click.Context | None = None) -> int:
    """``--at``: RFC 3339 with an offset, or now when omitted (with ``ctx``: the joined world's now, which
    ``seatsync demo advance`` moves on)."""
    from adapter.clock import now_us, parse_instant

    if value is None or value == "now":
        return world_now_us(ctx) if ctx is not None else now_us()
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _open(ctx: click.Context):
    from adapter.store.connection import open_db

    return open_db(get_settings(ctx).database)


def _read(ctx: click.Context, query):
    """``query(db)`` on a connection opened for it and closed after, whatever happens."""
    db = _open(ctx)
    try:
        return query(db)
    finally:
        db.close()



DEFAULT_URL = "http://127.0.0.1:8000"


def server_url(ctx: click.Context) -> str:
    """Where the running ``seatsync serve`` listens: its session's ``--bind``, else the default."""
    from adapter.embedded import read_session

    session = read_session(get_settings(ctx, join_embedded=False).database) or {}
    url = session.get("url")
    return url if isinstance(url, str) and url else DEFAULT_URL


def world_now_us(ctx: click.Context) -> int:
    """Now in the world the command joined: after ``seatsync demo advance``, the demo clocks' time."""
    from adapter.embedded import world_now_us as now

    return now(get_settings(ctx).database)


def world_clock(ctx: click.Context):
    """``world_now_us`` as a clock for a worker started by this command."""
    from adapter.embedded import world_now_us as now

    database = get_settings(ctx).database
    return lambda: now(database)


def require_world(ctx: click.Context, command: str) -> None:
    """Stop when a command needs the embedded world's catalogue and that world is not running.

    Without provider keys and without SEATSYNC_MAPPINGS, the catalogue with real price ids is the one the
    running ``make run`` wrote; ``./mappings`` holds placeholders, and reading the mirror through them
    would report every seat and line as a difference.
    """
    from adapter.embedded import session_env

    settings = get_settings(ctx)
    if settings.has_provider_keys or "SEATSYNC_MAPPINGS" in os.environ:
        return
    if session_env(settings.database) is None:
        click.echo(f"seatsync: {command}: the embedded world is not running, and the default mappings have only "
                   "placeholder price ids; start it with `make run` (or set SEATSYNC_MAPPINGS and the provider keys)",
                   err=True)
        ctx.exit(2)
