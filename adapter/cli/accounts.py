"""``seatsync accounts show`` and ``accounts list``: each account's seats in the ledger, pushed, and at the provider."""

from __future__ import annotations

import click

from adapter.cli.base import _instant, _open, get_settings
from adapter.cli.ledger import accounts
from adapter.providers import registry
from adapter.sync.view import sync_view


def _catalog(ctx):
    from adapter.billing.policy import CatalogError, load_catalog

    try:
        return load_catalog(get_settings(ctx).mappings)
    except CatalogError as exc:
        click.echo(f"seatsync: SEATSYNC_MAPPINGS: {exc}", err=True)
        ctx.exit(2)


def _live_quantity(ctx, link, catalog) -> tuple[int | None, str | None]:
    """The provider's seat quantity read now through its API, or why it could not be read."""
    from adapter.providers.errors import classify
    from adapter.sync.worker import providers_from_settings

    provider = providers_from_settings(get_settings(ctx)).get(link.provider)
    if provider is None:
        return None, f"no {link.provider} API key is configured"
    try:
        return provider.read(link.subscription, catalog).quantity, None
    except Exception as exc:  # noqa: BLE001 - shown beside the other numbers, not a traceback
        return None, classify(exc).reason


@accounts.command("show", short_help="ACCOUNT's link, plan and seats: ledger, pushed, provider.",
                  epilog="Examples:\n\n\b\n  seatsync accounts show demo-standard\n"
                         "  seatsync accounts show demo-standard --live\n"
                         "  seatsync accounts show demo-clinic --at 2026-12-24T12:00:00+01:00 --format json")
@click.argument("account")
@click.option("--at", "at", default=None, metavar="TIME", help="RFC 3339 instant with offset (default: now).")
@click.option("--live", is_flag=True, help="Also read the provider's quantity from its API now (else: the mirror).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def accounts_show(ctx, account, at, live, fmt):
    """The link, plan, addons and seats of ACCOUNT, and its seat sync: the quantity the ledger bills, the
    one seatsync last pushed, the provider's (from the mirror, or its API with --live) and the last sync."""
    import json

    from adapter import accounts as accounts_

    at_us = _instant(at, ctx=ctx)
    catalog = _catalog(ctx)
    db = _open(ctx)
    try:
        info = accounts_.describe(db, account, at_us)
        link = accounts_.get_account(db, account)
        view = sync_view(db, catalog, link, at_us) if link is not None else None
    finally:
        db.close()
    if info is None:
        click.echo(f"seatsync: unknown account {account!r}", err=True)
        ctx.exit(1)
        return
    if view is not None and live:
        view["live"], view["live_error"] = _live_quantity(ctx, link, catalog)
    if fmt == "json":
        click.echo(json.dumps({**info, "sync": view}, indent=2))
        return
    rows = [("account", info["account"])]
    if view is None:
        rows += [("provider", "(not linked)"), ("plan", info["plan"] or "-")]
    else:
        rows += [("provider", f"{registry.get(view['provider']).display_name}"),
                 ("subscription", view["subscription"]), ("plan", view["plan"]),
                 ("timezone", view["timezone"] + (" (the plan's)" if view["timezone_source"] == "plan" else "")),
                 ("linked at", view["linked_at"])]
    rows += [("addons", ", ".join(info["addons"]) or "-"), ("seats", f"{info['seats']} at {info['at']}")]
    if view is not None:
        rows += [("billed seats", f"{view['billable']} (the ledger, after the plan's minimum and included seats)"),
                 ("last pushed", "-" if view["pushed"] is None else str(view["pushed"])),
                 ("at provider", "-" if view["mirror"] is None else f"{view['mirror']} (mirror of its webhooks)")]
        if live:
            rows.append(("provider now", f"{view['live']} (read from its API)" if view["live_error"] is None
                         else f"unavailable: {view['live_error']}"))
        last = view["last_sync"]
        rows += [("last sync", f"set {last['quantity']} at {last['at']}" if last else "never (nothing to change yet)"),
                 ("sync", view["status"])]
    for name, value in rows:
        click.echo(f"{name:<13} {value}")


@accounts.command("list", short_help="Every linked account with its seats and sync state.",
                  epilog="Examples:\n\n\b\n  seatsync accounts list\n  seatsync accounts list --provider stripe\n"
                         "  seatsync accounts list --drift --format json\n  seatsync accounts list --limit 20 --page 2")
@click.option("--provider", type=click.Choice(registry.NAMES), default=None, help="Only this provider's accounts.")
@click.option("--plan", default=None, help="Only accounts on this plan (now).")
@click.option("--drift", is_flag=True, help="Only accounts not in sync (drift, waiting, refused, behind).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Accounts per page.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Which page of --limit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def accounts_list(ctx, provider, plan, drift, limit, page, fmt):
    """Every linked account, by name: provider, subscription, plan, the seats the ledger bills, the quantity
    seatsync last pushed and the provider's (mirror), and whether they agree."""
    import json

    from adapter import accounts as accounts_

    at_us = _instant(None, ctx=ctx)
    catalog = _catalog(ctx)
    db = _open(ctx)
    try:
        views = [sync_view(db, catalog, link, at_us) for link in accounts_.all_accounts(db)
                 if provider is None or link.provider == provider]
    finally:
        db.close()
    views = [v for v in views if (plan is None or v["plan"] == plan) and (not drift or v["status"] != "in sync")]
    shown = views[(page - 1) * limit:page * limit]
    if fmt == "json":
        click.echo(json.dumps({"accounts": shown, "total": len(views), "page": page, "limit": limit}, indent=2))
        return
    if not views:
        click.echo("no linked accounts" + (" match" if provider or plan or drift else
                                           " (link one with `seatsync accounts link`)"))
        return
    widths = {key: max([len(title)] + [len(str(v[key] if v[key] is not None else "-")) for v in shown])
              for key, title in (("account", "ACCOUNT"), ("provider", "PROVIDER"), ("subscription", "SUBSCRIPTION"),
                                 ("plan", "PLAN"))}
    click.echo(f"{'ACCOUNT':<{widths['account']}}  {'PROVIDER':<{widths['provider']}}  "
               f"{'SUBSCRIPTION':<{widths['subscription']}}  {'PLAN':<{widths['plan']}}  "
               f"{'LEDGER':>6}  {'PUSHED':>6}  {'AT PROVIDER':>11}  SYNC")
    for v in shown:
        click.echo(f"{v['account']:<{widths['account']}}  {v['provider']:<{widths['provider']}}  "
                   f"{v['subscription']:<{widths['subscription']}}  {v['plan']:<{widths['plan']}}  "
                   f"{v['billable']:>6}  {'-' if v['pushed'] is None else v['pushed']:>6}  "
                   f"{'-' if v['mirror'] is None else v['mirror']:>11}  {v['status']}")
    first = (page - 1) * limit + 1
    click.echo(f"{len(shown)} of {len(views)} accounts" + (f" (page {page}: {first}-{first + len(shown) - 1})"
                                                          if len(views) > limit else "")
               if shown else f"page {page} is empty: {len(views)} accounts, {limit} a page")
