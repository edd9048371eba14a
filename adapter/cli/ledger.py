"""``seatsync accounts``, ``seats`` and ``send``: links, the seat ledger, signed events."""

from __future__ import annotations

import click

from adapter.cli.base import _instant, _open, _read, cli, get_settings
from adapter.providers import registry

EVENT_TYPE_NAMES = ("seat.activated", "seat.deactivated", "account.plan_changed", "account.seats_snapshot",
                    "account.addons_changed", "account.linked", "account.unlinked")


@cli.group(short_help="Link accounts to subscriptions; show and list them.",
           epilog=("Examples:\n\n\b\n"
                   "  seatsync accounts list\n"
                   "  seatsync accounts show demo-standard\n"
                   "  seatsync accounts link acme --provider stripe --subscription sub_123 --plan standard-monthly"))
def accounts():
    """Link product accounts to provider subscriptions and look at them."""


@accounts.command("link", short_help="Record an account.linked event, as the product would.",
                  epilog=("Examples:\n\n\b\n"
                          "  seatsync accounts link acme --provider stripe --subscription sub_123 \\\n"
                          "      --plan standard-monthly\n"
                          "  seatsync accounts link clinic --provider chargebee --subscription AzZ1 \\\n"
                          "      --plan konfidens-solo-monthly --timezone Europe/Oslo"))
@click.argument("account")
@click.option("--provider", required=True, type=click.Choice(registry.NAMES))
@click.option("--subscription", required=True, help="The provider's subscription id.")
@click.option("--plan", required=True, help="A plan id from the mappings catalogue.")
@click.option("--timezone", default=None, help="IANA name; default: the plan's timezone.")
@click.pass_context
def accounts_link(ctx, account, provider, subscription, plan, timezone):
    """Record an account.linked event for ACCOUNT, as if the product had sent it."""
    from adapter import accounts as accounts_
    from adapter.billing.policy import CatalogError, load_catalog
    from adapter.intake.parse import IntakeError
    from adapter.ledger import LinkConflict

    settings = get_settings(ctx)
    try:
        catalog = load_catalog(settings.mappings)
    except CatalogError as exc:
        click.echo(f"seatsync: SEATSYNC_MAPPINGS: {exc}", err=True)
        ctx.exit(2)
    db = _open(ctx)
    try:
        linked = accounts_.link(db, account, provider=provider, subscription=subscription, plan=plan,
                                timezone=timezone, plans=catalog.plans, addons=catalog.addons)
    except (IntakeError, LinkConflict) as exc:
        for error in exc.errors:
            click.echo(f"seatsync: {error['field'].lstrip('/') or 'event'}: {error['reason']}", err=True)
        ctx.exit(2)
    finally:
        db.close()
    click.echo(f"linked {linked.account} to {linked.provider} subscription {linked.subscription} "
               f"on plan {linked.plan}" + (f" ({linked.timezone})" if linked.timezone else ""))


@cli.command(short_help="How many seats ACCOUNT had at an instant, and whose.",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync seats demo-standard\n"
                     "  seatsync seats demo-clinic --at 2026-12-24T12:00:00+01:00 --format json"))
@click.argument("account")
@click.option("--at", "at", default=None, help="RFC 3339 instant with offset (default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def seats(ctx, account, at, fmt):
    """How many seats ACCOUNT had at an instant, and whose."""
    import json

    from adapter import ledger
    from adapter.clock import format_us

    at_us = _instant(at, ctx=ctx)
    users = _read(ctx, lambda db: ledger.active_users(db, account, at_us))
    if fmt == "json":
        click.echo(json.dumps({"account": account, "at": format_us(at_us), "seats": len(users), "users": users}))
        return
    click.echo(f"{account} at {format_us(at_us)}: {len(users)} seat{'s' if len(users) != 1 else ''}")
    for user in users:
        click.echo(f"  {user}")


# The flag that carries each event field, to name the user's words in the receiver's answer.
FIELD_FLAGS = {"user": "--user", "users": "--user", "plan": "--plan", "addons": "--addon", "provider": "--provider",
               "subscription": "--subscription", "timezone": "--timezone", "occurred_at": "--at", "id": "--id",
               "account": "--account", "type": "TYPE"}
# What each type cannot go without (the receiver checks the rest and its answer is mapped to the flags).
REQUIRED_FLAGS = {"seat.activated": (("users", "--user"),), "seat.deactivated": (("users", "--user"),),
                  "account.plan_changed": (("plan", "--plan"),),
                  "account.linked": (("provider", "--provider"), ("subscription", "--subscription"),
                                     ("plan", "--plan"))}


def _flag_errors(body: str) -> list[str]:
    """The receiver's problem JSON, with each field path (``/user``, ``/events/1/plan``) named by its flag."""
    import json

    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return []
    lines = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        path = str(error.get("field") or "").strip("/").split("/")
        name = next((part for part in reversed(path) if not part.isdigit() and part != "events"), "")
        event = next((f" (event {int(part) + 1})" for part in path if part.isdigit()), "")
        lines.append(f"{FIELD_FLAGS.get(name, name or 'the event')} {error.get('reason', 'is invalid')}{event}")
    return lines


@cli.command(short_help="Sign and POST a product event, as the product would.",
             epilog="Examples:\n\n\b\n"
                    "  seatsync send seat.activated --account demo-standard --user alice --user bob\n"
                    "  seatsync send seat.deactivated --account demo-standard --user bob\n"
                    "  seatsync send account.plan_changed --account demo-standard --plan premium-monthly\n"
                    "  seatsync send account.seats_snapshot --account demo-team --user a --user b --user c")
@click.argument("event_type", metavar="TYPE", type=click.Choice(EVENT_TYPE_NAMES))
@click.option("--account", required=True, help="The product's account id.")
@click.option("--user", "users", multiple=True, help="Repeatable: one seat event per user, or the snapshot's list.")
@click.option("--plan", default=None, help="account.plan_changed, account.linked: a plan id from the catalogue.")
@click.option("--addon", "addons", multiple=True, help="Repeatable: the addons now enabled.")
@click.option("--provider", default=None, help="account.linked: stripe or chargebee.")
@click.option("--subscription", default=None, help="account.linked: the provider's subscription id.")
@click.option("--timezone", default=None, help="account.linked: IANA time zone.")
@click.option("--at", "at", default=None, metavar="TIME", help="occurred_at, RFC 3339 with offset (default: now).")
@click.option("--id", "event_id", default=None, help="Event id (default: a fresh one).")
@click.option("--url", default=None, metavar="URL",
              help="Where to POST (default: the running `seatsync serve`'s address, else "
                   "http://127.0.0.1:8000/webhooks/product).")
@click.pass_context
def send(ctx, event_type, account, users, plan, addons, provider, subscription, timezone, at, event_id, url):
    """Sign an event with the first product secret (Standard Webhooks) and POST it, exactly as the product
    would; prints the HTTP status and the answer, and exits 1 on a non-2xx answer.

    TYPE is one of: seat.activated, seat.deactivated, account.plan_changed, account.seats_snapshot,
    account.addons_changed, account.linked.
    """
    from adapter.cli.base import server_url
    from adapter.intake import sender

    given = {"users": users, "plan": plan, "provider": provider, "subscription": subscription}
    for field_name, flag in REQUIRED_FLAGS.get(event_type, ()):
        if not given[field_name]:
            raise click.UsageError(f"{flag} is required for {event_type}")
    settings = get_settings(ctx)
    if url is None:
        url = server_url(ctx) + "/webhooks/product"
    events = sender.build_events(event_type, account=account, users=users, plan=plan, addons=addons,
                                 provider=provider, subscription=subscription, timezone=timezone,
                                 at_us=_instant(at, ctx=ctx), event_id=event_id)
    try:
        reply = sender.post_signed(url, sender.encode(events), settings.product_secrets[0])
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        refused = isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower()
        if refused:
            click.echo(f"seatsync: the server isn't running at {url} (connection refused): start it with "
                       "`make run` (or `seatsync serve`), or give its address with --url", err=True)
        else:
            click.echo(f"seatsync: cannot reach {url}: {reason}; is seatsync running? start it with `make run`",
                       err=True)
        ctx.exit(2)
    click.echo(f"HTTP {reply.status}")
    click.echo(reply.body.strip())
    if not reply.ok:
        for line in _flag_errors(reply.body):
            click.echo(f"seatsync: {line}", err=True)
        ctx.exit(1)


# --- billing policies and previews (issue 3) ------------------------------------------------------
