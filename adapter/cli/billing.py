"""``seatsync policies check`` and ``seatsync preview``: the billing policies and what a change would cost."""

from __future__ import annotations

from pathlib import Path

import click

from adapter.cli.base import _instant, _open, cli, get_settings


@cli.group(short_help="Check the billing policies and plan catalogues in mappings/.",
           epilog="Examples:\n\n\b\n  seatsync policies check")
def policies():
    """Billing policies and plan catalogues in mappings/."""


@policies.command("check", short_help="Validate the policy files; exit 1 on any error.",
                  epilog="Examples:\n\n\b\n  seatsync policies check\n  seatsync policies check ./my-mappings")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.pass_context
def policies_check(ctx, path):
    """Validate every policy file in PATH (default: SEATSYNC_MAPPINGS); exit 1 on any error."""
    from adapter.billing.policy import load_catalog, validate

    if path is None:
        path = get_settings(ctx).mappings
    errors = validate(path)
    for error in errors:
        click.echo(str(error), err=True)
    if errors:
        click.echo(f"seatsync: {len(errors)} error{'s' if len(errors) != 1 else ''} in {path}", err=True)
        ctx.exit(1)
    catalog = load_catalog(path)
    for source in sorted({plan.source for plan in catalog.plans.values()} |
                         {addon.source for addon in catalog.addons.values()}):
        plans = sorted(p.id for p in catalog.plans.values() if p.source == source)
        addons = sorted(a.id for a in catalog.addons.values() if a.source == source)
        click.echo(f"{source}: {len(plans)} plans ({', '.join(plans) or '-'}), {len(addons)} addons"
                   + (f" ({', '.join(addons)})" if addons else ""))
    click.echo(f"ok: {len(catalog.plans)} plans, {len(catalog.addons)} addons")


@cli.command(short_help="What one change would cost ACCOUNT, line by line.",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync preview demo-clinic\n"
                     "  seatsync preview demo-standard --add 1\n"
                     "  seatsync preview demo-clinic --remove 1 --at 2026-12-16T14:00:00+01:00\n"
                     "  seatsync preview demo-standard --plan premium-monthly --format json"))
@click.argument("account")
@click.option("--add", "add", type=click.IntRange(min=1), default=None, help="Seats to add.")
@click.option("--remove", "remove", type=click.IntRange(min=1), default=None, help="Seats to remove.")
@click.option("--plan", "plan", default=None, help="Plan id to switch to.")
@click.option("--at", "at", default=None, help="RFC 3339 instant with offset (default: now).")
@click.option("--anchor", default=None, help="Billing cycle anchor, RFC 3339 (default: when the account was linked).")
@click.option("--utc", is_flag=True, help="Print times in UTC (default: the account's time zone).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def preview(ctx, account, add, remove, plan, at, anchor, utc, fmt):
    """What ACCOUNT would be charged or credited for one change, line by line, and when.

    Without a change: the current period and the account's scheduled price changes."""
    import json

    from adapter.billing.policy import CatalogError, load_catalog
    from adapter.billing.preview import PreviewError, render_table
    from adapter.billing.preview import preview as preview_change

    # No change at all is a question too: where the account stands and which announced price is ahead.
    if sum(option is not None for option in (add, remove, plan)) > 1:
        raise click.UsageError("give at most one of --add N, --remove N, --plan PLAN")
    at_us = _instant(at, ctx=ctx)
    anchor_us = _instant(anchor, "--anchor") if anchor is not None else None
    settings = get_settings(ctx)
    try:
        catalog = load_catalog(settings.mappings)
    except CatalogError as exc:
        click.echo(f"seatsync: SEATSYNC_MAPPINGS: {exc}", err=True)
        ctx.exit(2)
    db = _open(ctx)
    try:
        result = preview_change(db, catalog, account, at_us=at_us, add=add or 0, remove=remove or 0, plan=plan,
                                anchor_us=anchor_us)
    except PreviewError as exc:
        click.echo(f"seatsync: {exc}", err=True)
        ctx.exit(1)
    finally:
        db.close()
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    for text in render_table(result, utc=utc):
        click.echo(text)


# --- provider callbacks: backfill and product notification deliveries (issue 6) -------------------
