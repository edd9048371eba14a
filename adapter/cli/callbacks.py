"""``seatsync backfill`` and ``seatsync deliveries``: the mirror from the list APIs, product notifications."""

from __future__ import annotations

import sys
from datetime import UTC

import click

from adapter.cli.base import _open, cli, get_settings
from adapter.providers import registry


@cli.command(short_help="Build the mirror from the provider's list APIs (resumable).",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync backfill --provider stripe\n"
                     "  seatsync backfill --provider chargebee --since 2026-11-01"))
@click.option("--provider", required=True, type=click.Choice(registry.NAMES))
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Only objects created on or after this UTC date (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def backfill(ctx, provider, since, fmt):
    """Build the mirror from the provider's list APIs; run it again to resume after an interruption."""
    import json

    from adapter.callbacks import backfill as backfill_

    settings = get_settings(ctx)
    since_s = int(since.replace(tzinfo=UTC).timestamp()) if since is not None else None
    report = backfill_.BackfillReport()
    db = _open(ctx)
    try:
        steps = backfill_.run(db, settings, provider, since=since_s, report=report)
        with click.progressbar(steps, label=f"backfill {provider}", show_pos=True,
                               item_show_func=lambda step: f"{step.resource} {step.object_id}" if step else "",
                               file=sys.stderr) as bar:
            for _ in bar:
                pass
    except LookupError as exc:  # no API key for that provider
        click.echo(f"seatsync: {exc}", err=True)
        ctx.exit(2)
    finally:
        db.close()
    summary = backfill_.describe(report)
    if fmt == "json":
        click.echo(json.dumps(summary))
        return
    for resource, count in summary["saved"].items():
        click.echo(f"{resource:<17} {count}")
    for resource in summary["skipped"]:
        click.echo(f"{resource:<17} skipped: the API base does not serve this list")


@cli.group(short_help="Product notifications and their delivery log.",
           epilog="Examples:\n\n\b\n  seatsync deliveries list --status failed\n  seatsync deliveries retry 12")
def deliveries():
    """Product notifications sent to SEATSYNC_PRODUCT_CALLBACK_URL, and their delivery log."""


@deliveries.command("list", short_help="Newest deliveries first, with attempts and the last answer.",
                     epilog=("Examples:\n\n\b\n"
                             "  seatsync deliveries list\n"
                             "  seatsync deliveries list --status failed --limit 10 --format json"))
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def deliveries_list(ctx, status, limit, fmt):
    """Newest deliveries first, with attempts and the last answer."""
    import json

    from adapter import store

    db = _open(ctx)
    try:
        rows = store.delivery_rows(db, status=status, limit=limit)
        if fmt == "json":
            out = [{k: v for k, v in row.items() if k not in ("claim_owner", "claim_expires_us")}
                   | {"body": json.loads(row["body"]), "log": store.delivery_attempt_rows(db, row["id"])}
                   for row in rows]
            click.echo(json.dumps(out, indent=2))
            return
    finally:
        db.close()
    click.echo(f"{'ID':>5}  {'TYPE':<24} {'ACCOUNT':<20} {'STATUS':<10} {'TRIES':>5}  LAST")
    for row in rows:
        last = row["last_status"] if row["last_status"] is not None else (row["last_error"] or "-")
        click.echo(f"{row['id']:>5}  {row['type']:<24} {str(row['account'] or '-'):<20} {row['status']:<10} "
                   f"{row['attempts']:>5}  {last}")


@deliveries.command("retry", short_help="Send delivery ID now and print the product's answer.",
                     epilog="Examples:\n\n\b\n  seatsync deliveries retry 12")
@click.argument("delivery_id", metavar="ID", type=int)
@click.pass_context
def deliveries_retry(ctx: click.Context, delivery_id: int) -> None:
    """Send delivery ID now (pending or failed), and print the answer."""
    from adapter import store
    from adapter.callbacks import notify

    settings = get_settings(ctx)
    if not settings.product_callback_url:
        click.echo("seatsync: SEATSYNC_PRODUCT_CALLBACK_URL is not set; nothing can be sent", err=True)
        ctx.exit(2)
    db = _open(ctx)
    try:
        row = store.delivery_row(db, delivery_id)
        if row is None:
            click.echo(f"seatsync: no delivery {delivery_id}", err=True)
            ctx.exit(1)
        if row["status"] == "delivered":
            click.echo(f"delivery {delivery_id} was already delivered")
            return
        notify.retry_delivery(db, settings, delivery_id)
        row = store.delivery_row(db, delivery_id) or row  # deliveries are never deleted
    finally:
        db.close()
    last = row["last_status"] if row["last_status"] is not None else row["last_error"]
    click.echo(f"delivery {delivery_id}: {row['status']} after {row['attempts']} attempts (last: {last})")
    if row["status"] != "delivered":
        ctx.exit(1)
