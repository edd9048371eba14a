"""``seatsync db``: the database's migrations, online backups and restores (deploy/README.md)."""

from __future__ import annotations

from pathlib import Path

import click

from adapter.cli.base import cli, get_settings


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@cli.group("db", short_help="The database: migrations, online backup and restore.",
           epilog=("Examples:\n\n\b\n"
                   "  seatsync db status\n"
                   "  seatsync db migrate\n"
                   "  seatsync db backup /var/backups/seatsync/$(date +%F).db\n"
                   "  seatsync db restore /var/backups/seatsync/2026-12-01.db"))
def db_group():
    """The database at SEATSYNC_DATABASE: its migrations, online backups and restores."""


@db_group.command("status", short_help="Applied and pending migrations, database and WAL size.",
                  epilog="Examples:\n\n\b\n  seatsync db status\n  seatsync db status --format json")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def db_status(ctx, fmt):
    """Applied and pending migrations and the database's size; exit 1 while migrations are pending."""
    import json
    import sqlite3

    from adapter.store import maintenance

    database = get_settings(ctx, join_embedded=False).database
    if not database.exists():
        click.echo(f"seatsync: db status: {database} does not exist (SEATSYNC_DATABASE); "
                   "`seatsync db migrate` creates it", err=True)
        ctx.exit(2)
    try:
        found = maintenance.status(database)
    except sqlite3.DatabaseError as exc:
        click.echo(f"seatsync: db status: {database} cannot be read: {exc}", err=True)
        ctx.exit(2)
    if fmt == "json":
        click.echo(json.dumps({"database": str(database), "applied": found.applied, "pending": found.pending,
                               "unknown": found.unknown, "size_bytes": found.size_bytes,
                               "wal_bytes": found.wal_bytes}, indent=2))
    else:
        click.echo(f"database: {database} ({_size(found.size_bytes)}, WAL {_size(found.wal_bytes)})")
        click.echo(f"applied:  {len(found.applied)} migrations, last {found.applied[-1] if found.applied else '-'}")
        click.echo(f"pending:  {', '.join(found.pending) if found.pending else 'none'}")
        if found.unknown:
            click.echo(f"unknown:  {', '.join(found.unknown)} (written by a newer seatsync)")
    if found.pending:
        ctx.exit(1)


@db_group.command("migrate", short_help="Apply the pending migrations.",
                  epilog="Examples:\n\n\b\n  seatsync db migrate")
@click.pass_context
def db_migrate(ctx):
    """Create the database if needed and apply every pending migration (serve and worker also do at start)."""
    from adapter.store import maintenance

    database = get_settings(ctx, join_embedded=False).database
    applied = maintenance.migrate(database)
    click.echo(f"{database}: applied {', '.join(applied)}" if applied else f"{database}: up to date")


@db_group.command("backup", short_help="Copy the live database to PATH (SQLite's online backup).",
                  epilog="Examples:\n\n\b\n  seatsync db backup /var/backups/seatsync/$(date +%F).db")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx, path: Path):
    """Copy the database to PATH while seatsync runs; PATH must not exist. The copy is checked
    (integrity_check) before it takes its name."""
    from adapter.store import maintenance

    database = get_settings(ctx, join_embedded=False).database
    try:
        size = maintenance.backup(database, path)
    except maintenance.BackupError as exc:
        click.echo(f"seatsync: db backup: {exc}", err=True)
        ctx.exit(2)
    click.echo(f"backed up {database} to {path} ({_size(size)}, integrity ok)")


@db_group.command("restore", short_help="Replace the database's content with a backup's.",
                  epilog=("Examples:\n\n\b\n"
                          "  systemctl stop seatsync seatsync-worker\n"
                          "  seatsync db restore /var/backups/seatsync/2026-12-01.db\n"
                          "  systemctl start seatsync seatsync-worker"))
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def db_restore(ctx, path: Path):
    """Check the backup at PATH, copy it into SEATSYNC_DATABASE and apply pending migrations.

    Stop the server and the worker first. Afterwards run `seatsync reconcile`: what happened at the
    provider since the backup comes back through the worker's sweep or `seatsync backfill`."""
    from adapter.store import maintenance

    database = get_settings(ctx, join_embedded=False).database
    try:
        applied = maintenance.restore(path, database)
    except maintenance.BackupError as exc:
        click.echo(f"seatsync: db restore: {exc}", err=True)
        ctx.exit(2)
    more = f"; applied {', '.join(applied)}" if applied else ""
    click.echo(f"restored {database} from {path}{more}")
