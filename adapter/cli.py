"""The ``seatsync`` command line.

Commands print tables for people and ``--format json`` for scripts; a bad
setting or argument ends with one line naming it and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from adapter.config import ConfigError, Settings, load_settings, with_embedded_defaults

REPO_ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPO_ROOT / "deploy" / "gunicorn.conf.py"


def get_settings(ctx: click.Context) -> Settings:
    """Settings for this invocation, loaded once; a bad setting exits with one line."""
    root = ctx.find_root()
    if "settings" not in root.meta:
        try:
            root.meta["settings"] = with_embedded_defaults(load_settings())
        except ConfigError as exc:
            click.echo(f"seatsync: configuration error: {exc}", err=True)
            ctx.exit(2)
    return root.meta["settings"]


@click.group()
@click.version_option(package_name="seatsync")
def cli():
    """seatsync: per-seat billing adapter for Stripe and Chargebee."""


@cli.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.pass_context
def serve(ctx: click.Context, bind: str):
    """Serve the webhooks (gunicorn with deploy/gunicorn.conf.py)."""
    settings = get_settings(ctx)
    if ":" not in bind or not bind.rsplit(":", 1)[1].isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--bind")
    click.echo(f"seatsync: database {settings.database}, mappings {settings.mappings}, listening on http://{bind}")
    argv = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", bind,
            "webhooks:create_app()"]
    os.execv(sys.executable, argv)


def main():
    cli(prog_name="seatsync")


if __name__ == "__main__":
    main()
