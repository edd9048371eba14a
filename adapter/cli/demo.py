"""``seatsync demo``: run the embedded world's clocks forward, and make a difference for reconcile to find."""

from __future__ import annotations

import click

from adapter.cli.base import _instant, cli, get_settings


@cli.group(short_help="Run the demo world forward in time, or inject a difference.",
           epilog="Examples:\n\n\b\n  seatsync demo advance --days 32\n  seatsync demo tamper demo-standard")
def demo():
    """The embedded world of `make run`: move its provider clocks, or change a quantity behind seatsync's back.

    Run these in a second terminal while `make run` is running.
    """


@demo.command("advance", short_help="Move the sandbox's clocks on: renewals and invoices.",
              epilog="Examples:\n\n\b\n  seatsync demo advance --days 31\n"
                     "  seatsync demo advance --to 2027-01-15T00:00:00Z")
@click.option("--days", type=click.IntRange(1, 730), default=None, help="Days to move forward.")
@click.option("--to", "to", default=None, metavar="TIME", help="RFC 3339 instant with offset to move to.")
@click.pass_context
def demo_advance(ctx, days, to):
    """Move every provider clock of the running demo world forward (Stripe test clocks, the Chargebee
    time machine): renewals issue their invoices with the prorations due, and the webhooks reach the mirror.
    `seatsync reconcile` then checks those invoices.
    """
    from adapter import embedded
    from adapter.billing.money import format_amount
    from adapter.cli.base import world_now_us
    from adapter.clock import DAY_US, SECOND_US, format_us

    if (days is None) == (to is None):
        raise click.UsageError("give one of --days N or --to TIME")
    settings = get_settings(ctx)
    to_us = _instant(to, "--to") if to is not None else world_now_us(ctx) + days * DAY_US
    try:
        result = embedded.demo_advance(settings, to_us)
    except embedded.EmbeddedError as exc:
        click.echo(f"seatsync: demo advance: {exc}", err=True)
        ctx.exit(2)
    click.echo(f"moved {', '.join(result.moved) or 'no clock'}: {format_us(result.before_us)} → "
               f"{format_us(result.to_us)}")
    if not result.invoices:
        click.echo("no invoice was issued on the way (no renewal fell in that time)")
    for row in sorted(result.invoices, key=lambda r: (r["created"], r["id"])):
        currency = str(row["currency"] or "").upper()
        total = format_amount(row["total"], currency) if currency and row["total"] is not None else row["total"]
        click.echo(f"  invoice {row['id']} ({row['provider']}, {row['billing_reason'] or 'renewal'}, "
                   f"{format_us(row['created'] * SECOND_US)}): total {total}, {row['status']}")
    click.echo("next: `seatsync reconcile` checks every line of these invoices")


@demo.command("tamper", short_help="Change ACCOUNT's quantity behind seatsync's back.",
              epilog="Examples:\n\n\b\n  seatsync demo tamper demo-standard\n"
                     "  seatsync demo tamper demo-clinic --quantity 7")
@click.argument("account")
@click.option("--quantity", type=click.IntRange(min=0), default=None,
              help="The quantity to set (default: two more than the provider holds).")
@click.pass_context
def demo_tamper(ctx, account, quantity):
    """Set ACCOUNT's seat quantity at the provider directly, without prorations, as someone editing the
    subscription in the provider's dashboard would. `seatsync reconcile` then finds the seat drift, and
    `seatsync reconcile --fix` puts the ledger's quantity back.
    """
    from adapter import embedded

    try:
        before, after = embedded.demo_tamper(get_settings(ctx), account, quantity)
    except embedded.EmbeddedError as exc:
        click.echo(f"seatsync: demo tamper: {exc}", err=True)
        ctx.exit(2)
    click.echo(f"{account}: the provider's seat quantity set from {before} to {after}, behind seatsync's back")
    click.echo("next: `seatsync reconcile` finds the drift; `seatsync reconcile --fix` corrects it")
