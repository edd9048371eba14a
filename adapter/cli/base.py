"""The ``seatsync`` command group and what its commands share: settings, the database, instants.

Commands print tables for people and ``--format json`` for scripts; a bad setting or argument ends
with one line naming it and a non-zero exit.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from adapter.config import ConfigError, Settings, load_settings, with_embedded_defaults

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "deploy" / "gunicorn.conf.py"


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


def _instant(value: str | None, option: str = "--at") -> int:
    """``--at``: RFC 3339 with an offset, or now when omitted."""
    from adapter.clock import now_us, parse_instant

    if value is None or value == "now":
        return now_us()
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

