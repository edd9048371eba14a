"""``seatsync dead-letters``: what a provider refused for good, and retrying it."""

from __future__ import annotations

import click

from adapter.cli.base import _read, cli


@cli.group("dead-letters", short_help="Seat changes a provider refused for good, and retrying them.",
           epilog="Examples:\n\n\b\n  seatsync dead-letters list\n  seatsync dead-letters retry 3")
def dead_letters():
    """Seat changes a provider refused for good, with its reason."""


@dead_letters.command("list", short_help="Every dead letter: account, call and the provider's reason.",
                       epilog=("Examples:\n\n\b\n"
                               "  seatsync dead-letters list\n"
                               "  seatsync dead-letters list --all --format json"))
@click.option("--all", "include_retried", is_flag=True, help="Include letters already retried.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def dead_letters_list(ctx, include_retried, fmt):
    """Every dead letter: account, subscription, the call and the provider's reason."""
    import json

    from adapter import store
    from adapter.clock import format_us

    rows = _read(ctx, lambda db: store.dead_letters(db, include_retried=include_retried))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no dead letters")
        return
    click.echo(f"{'ID':>4}  {'WHEN':<27} {'ACCOUNT':<18} {'SUBSCRIPTION':<22} {'OPERATION':<42} REASON")
    for row in rows:
        reason = f"{row['status'] or '-'} {row['code'] or ''}: {row['reason']}".strip()
        click.echo(f"{row['id']:>4}  {format_us(row['created_us']):<27} {row['account']:<18} "
                   f"{row['subscription']:<22} {row['operation']:<42} {reason}")


@dead_letters.command("retry", short_help="Make the account of dead letter ID due again.",
                       epilog="Examples:\n\n\b\n  seatsync dead-letters retry 3")
@click.argument("letter_id", metavar="ID", type=int)
@click.pass_context
def dead_letters_retry(ctx, letter_id):
    """Make the account of dead letter ID due again; the worker recomputes from the ledger."""
    from adapter import store
    from adapter.clock import now_us

    letter = _read(ctx, lambda db: store.retry_dead_letter(db, letter_id, now_us()))
    if letter is None:
        click.echo(f"seatsync: no open dead letter {letter_id}", err=True)
        ctx.exit(1)
    click.echo(f"dead letter {letter_id}: account {letter['account']} is due again")


# --- seat ledger and accounts (issue 2) ----------------------------------------------------------
