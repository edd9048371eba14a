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
from adapter.providers import registry

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


def _bind(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--bind")
    return value


@cli.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--worker/--no-worker", "run_worker", default=True, show_default=True,
              help="Run the sync worker in this process (else run `seatsync worker` separately).")
@click.option("--sandbox-port", default=12111, show_default=True, type=click.IntRange(1, 65535),
              help="Port of the local provider sandbox, started when no provider keys are set.")
@click.pass_context
def serve(ctx: click.Context, bind: str, run_worker: bool, sandbox_port: int):
    """Serve the webhooks (gunicorn with deploy/gunicorn.conf.py) and run the sync worker.

    With neither STRIPE_API_KEY nor CHARGEBEE_API_KEY set, it also starts the
    local provider sandbox and seeds a demo account per article policy.
    """
    import signal
    import subprocess
    import threading

    settings = get_settings(ctx, join_embedded=False)  # serve starts its own world
    _bind(bind)
    env = dict(os.environ)
    sandbox = None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        if not settings.has_provider_keys:
            from adapter import embedded

            try:
                sandbox = embedded.start_sandbox(REPO_ROOT, sandbox_port, settings.database)
            except embedded.EmbeddedError as exc:
                click.echo(f"seatsync: {exc}", err=True)
                ctx.exit(2)
            env.update(sandbox.env)
            settings = with_embedded_defaults(load_settings(env))
            try:
                settings = embedded.seed_demo(settings, sandbox, f"http://{bind}")
            except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
                click.echo(f"seatsync: could not seed the demo world in the sandbox: {type(exc).__name__}: {exc}",
                           err=True)
                ctx.exit(2)
            env["SEATSYNC_MAPPINGS"] = str(settings.mappings)
            env.setdefault("SEATSYNC_PRODUCT_SECRETS", settings.product_secrets[0])
            embedded.write_session(settings.database, {**sandbox.env, "SEATSYNC_MAPPINGS": env["SEATSYNC_MAPPINGS"]})
            click.echo(f"seatsync: local provider sandbox on {sandbox.url}; demo accounts: "
                       + ", ".join(a for a, _, _ in embedded.DEMO_ACCOUNTS))
        click.echo(f"seatsync: database {settings.database}, mappings {settings.mappings}, listening on http://{bind}")
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", bind,
                                   "webhooks:create_app()"], env=env)
        thread = None
        if run_worker:
            from adapter.sync.worker import Worker

            thread = threading.Thread(target=Worker(settings).run_forever, args=(stop,), name="seatsync-worker",
                                      daemon=True)
            thread.start()
        while not stop.is_set() and server.poll() is None:
            stop.wait(0.5)
        stop.set()
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=15)
        if thread is not None:
            thread.join(timeout=15)
        if server.returncode not in (0, -signal.SIGTERM):
            ctx.exit(server.returncode or 1)
    finally:
        if sandbox is not None:
            from adapter import embedded

            embedded.remove_session(settings.database)
            sandbox.stop()


@cli.command()
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Accounts synced in parallel.")
@click.option("--delay", default=2.0, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds a seat change waits to be merged with others (coalescing).")
@click.option("--once", is_flag=True, help="One pass over what is due, then exit.")
@click.pass_context
def worker(ctx: click.Context, threads: int, delay: float, once: bool):
    """Sync ledger changes to the providers: exactly once, in order, with the policy's flags."""
    import signal
    import threading

    from adapter.sync.worker import Worker, WorkerConfig

    settings = get_settings(ctx)
    sync_worker = Worker(settings, config=WorkerConfig(threads=threads, coalesce_delay=delay))
    if once:
        outcomes = sync_worker.run_once()
        for outcome in outcomes:
            click.echo(f"{outcome.account}: {outcome.sent} sent, {outcome.dead} dead-lettered"
                       + (", deferred" if outcome.deferred else "") + (", drift recorded" if outcome.drift else ""))
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    sync_worker.run_forever(stop)


@cli.group("dead-letters")
def dead_letters():
    """Seat changes a provider refused for good, with its reason."""


@dead_letters.command("list")
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


@dead_letters.command("retry")
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

EVENT_TYPE_NAMES = ("seat.activated", "seat.deactivated", "account.plan_changed", "account.seats_snapshot",
                    "account.addons_changed", "account.linked")


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


@cli.group()
def accounts():
    """Link product accounts to provider subscriptions and look at them."""


@accounts.command("link")
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
    except IntakeError as exc:
        for error in exc.errors:
            click.echo(f"seatsync: {error['field'].lstrip('/') or 'event'}: {error['reason']}", err=True)
        ctx.exit(2)
    finally:
        db.close()
    click.echo(f"linked {linked.account} to {linked.provider} subscription {linked.subscription} "
               f"on plan {linked.plan}" + (f" ({linked.timezone})" if linked.timezone else ""))


@accounts.command("show")
@click.argument("account")
@click.option("--at", "at", default=None, help="RFC 3339 instant with offset (default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def accounts_show(ctx, account, at, fmt):
    """The link, plan, addons and seats of ACCOUNT."""
    import json

    from adapter import accounts as accounts_

    at_us = _instant(at)
    info = _read(ctx, lambda db: accounts_.describe(db, account, at_us))
    if info is None:
        click.echo(f"seatsync: unknown account {account!r}", err=True)
        ctx.exit(1)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        return
    link = info["link"] or {}
    rows = [
        ("account", info["account"]),
        ("provider", link.get("provider") or "(not linked)"),
        ("subscription", link.get("subscription") or "-"),
        ("plan", info["plan"] or "-"),
        ("timezone", link.get("timezone") or "(the plan's)"),
        ("linked at", link.get("linked_at") or "-"),
        ("addons", ", ".join(info["addons"]) or "-"),
        ("seats", f"{info['seats']} at {info['at']}"),
    ]
    for name, value in rows:
        click.echo(f"{name:<13} {value}")


@cli.command()
@click.argument("account")
@click.option("--at", "at", default=None, help="RFC 3339 instant with offset (default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def seats(ctx, account, at, fmt):
    """How many seats ACCOUNT had at an instant, and whose."""
    import json

    from adapter import ledger
    from adapter.clock import format_us

    at_us = _instant(at)
    users = _read(ctx, lambda db: ledger.active_users(db, account, at_us))
    if fmt == "json":
        click.echo(json.dumps({"account": account, "at": format_us(at_us), "seats": len(users), "users": users}))
        return
    click.echo(f"{account} at {format_us(at_us)}: {len(users)} seat{'s' if len(users) != 1 else ''}")
    for user in users:
        click.echo(f"  {user}")


@cli.command()
@click.argument("event_type", metavar="TYPE", type=click.Choice(EVENT_TYPE_NAMES))
@click.option("--account", required=True)
@click.option("--user", "users", multiple=True, help="Repeatable: one seat event per user, or the snapshot's list.")
@click.option("--plan", default=None)
@click.option("--addon", "addons", multiple=True, help="Repeatable: the addons now enabled.")
@click.option("--provider", default=None, help="account.linked: stripe or chargebee.")
@click.option("--subscription", default=None, help="account.linked: the provider's subscription id.")
@click.option("--timezone", default=None, help="account.linked: IANA time zone.")
@click.option("--at", "at", default=None, help="occurred_at, RFC 3339 with offset (default: now).")
@click.option("--id", "event_id", default=None, help="Event id (default: a fresh one).")
@click.option("--url", default="http://127.0.0.1:8000/webhooks/product", show_default=True)
@click.pass_context
def send(ctx, event_type, account, users, plan, addons, provider, subscription, timezone, at, event_id, url):
    """Sign (first product secret) and POST an event, exactly as the product would."""
    from adapter.intake import sender

    settings = get_settings(ctx)
    events = sender.build_events(event_type, account=account, users=users, plan=plan, addons=addons,
                                 provider=provider, subscription=subscription, timezone=timezone,
                                 at_us=_instant(at), event_id=event_id)
    try:
        reply = sender.post_signed(url, sender.encode(events), settings.product_secrets[0])
    except OSError as exc:
        click.echo(f"seatsync: cannot reach {url}: {getattr(exc, 'reason', exc)}", err=True)
        ctx.exit(2)
    click.echo(f"HTTP {reply.status}")
    click.echo(reply.body.strip())
    if not reply.ok:
        ctx.exit(1)


# --- billing policies and previews (issue 3) ------------------------------------------------------


@cli.group()
def policies():
    """Billing policies and plan catalogues in mappings/."""


@policies.command("check")
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


@cli.command()
@click.argument("account")
@click.option("--add", "add", type=click.IntRange(min=1), default=None, help="Seats to add.")
@click.option("--remove", "remove", type=click.IntRange(min=1), default=None, help="Seats to remove.")
@click.option("--plan", "plan", default=None, help="Plan id to switch to.")
@click.option("--at", "at", default=None, help="RFC 3339 instant with offset (default: now).")
@click.option("--anchor", default=None, help="Billing cycle anchor, RFC 3339 (default: when the account was linked).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def preview(ctx, account, add, remove, plan, at, anchor, fmt):
    """What ACCOUNT would be charged or credited for one change, line by line, and when."""
    import json

    from adapter.billing.policy import CatalogError, load_catalog
    from adapter.billing.preview import PreviewError, render_table
    from adapter.billing.preview import preview as preview_change

    if sum(option is not None for option in (add, remove, plan)) != 1:
        raise click.UsageError("give exactly one of --add N, --remove N, --plan PLAN")
    at_us = _instant(at)
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
    for text in render_table(result):
        click.echo(text)


# --- provider callbacks: backfill and product notification deliveries (issue 6) -------------------


@cli.command()
@click.option("--provider", required=True, type=click.Choice(registry.NAMES))
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only objects created on or after this UTC date (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def backfill(ctx, provider, since, fmt):
    """Build the mirror from the provider's list APIs; run it again to resume after an interruption."""
    import json
    from datetime import timezone

    from adapter.callbacks import backfill as backfill_

    settings = get_settings(ctx)
    since_s = int(since.replace(tzinfo=timezone.utc).timestamp()) if since is not None else None
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


@cli.group()
def deliveries():
    """Product notifications sent to SEATSYNC_PRODUCT_CALLBACK_URL, and their delivery log."""


@deliveries.command("list")
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


@deliveries.command("retry")
@click.argument("delivery_id", metavar="ID", type=int)
@click.pass_context
def deliveries_retry(ctx, delivery_id):
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
        row = store.delivery_row(db, delivery_id)
    finally:
        db.close()
    last = row["last_status"] if row["last_status"] is not None else row["last_error"]
    click.echo(f"delivery {delivery_id}: {row['status']} after {row['attempts']} attempts (last: {last})")
    if row["status"] != "delivered":
        ctx.exit(1)



# --- reconciliation (issue 7) -----------------------------------------------------------------------


def _window(period: str | None, since: str | None, until: str | None) -> tuple[int, int]:
    """``--period YYYY-MM`` (a UTC calendar month) or ``--since``/``--until`` (RFC 3339; until defaults to now)."""
    from adapter import reconcile as reconcile_
    from adapter.clock import now_us

    if period is not None:
        if since is not None or until is not None:
            raise click.UsageError("give --period or --since/--until, not both")
        try:
            return reconcile_.month_window(period)
        except ValueError:
            raise click.BadParameter("expected YYYY-MM", param_hint="--period") from None
    since_us = _instant(since, "--since") if since is not None else 0
    until_us = _instant(until, "--until") if until is not None else now_us()
    if until_us <= since_us:
        raise click.BadParameter("must be after --since", param_hint="--until")
    return since_us, until_us


def _live_quantity_reader(settings):
    """``--live``: the seat quantity read from the provider now, instead of from the mirror."""
    from adapter import reconcile as reconcile_
    from adapter.sync.worker import providers_from_settings

    providers = providers_from_settings(settings)

    def reader(link, catalog):
        if link.provider not in providers:
            raise reconcile_.ReconcileError(f"--live: no {link.provider} API key is configured")
        return providers[link.provider].read(link.subscription, catalog).quantity

    return reader


@cli.command()
@click.option("--account", default=None, help="Only this account.")
@click.option("--period", default=None, help="A UTC calendar month, YYYY-MM.")
@click.option("--since", default=None, help="RFC 3339 instant (default: the beginning).")
@click.option("--until", default=None, help="RFC 3339 instant, exclusive (default: now).")
@click.option("--tolerance", type=click.IntRange(min=0), default=1, show_default=True,
              help="Minor units a matched line's amount may differ by.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--live", is_flag=True, help="Read seat quantities from the provider's API, not the mirror.")
@click.option("--fix", "fix_", is_flag=True, help="Re-push drifted quantities through the sync worker (never invoices).")
@click.pass_context
def reconcile(ctx, account, period, since, until, tolerance, fmt, live, fix_):
    """Expected (ledger + policy) against actual (provider) seats and invoice lines.

    Exit 0 when clean, 1 when there are differences, 2 on error.
    """
    import json

    from adapter import reconcile as reconcile_
    from adapter.billing.policy import CatalogError, load_catalog

    since_us, until_us = _window(period, since, until)
    settings = get_settings(ctx)
    try:
        catalog = load_catalog(settings.mappings)
    except CatalogError as exc:
        click.echo(f"seatsync: SEATSYNC_MAPPINGS: {exc}", err=True)
        ctx.exit(2)
    reader = _live_quantity_reader(settings) if live else None
    db = _open(ctx)
    try:
        report = reconcile_.reconcile(db, catalog, since_us=since_us, until_us=until_us, account=account,
                                      tolerance=tolerance, live=reader)
        fixed = reconcile_.fix(db, report) if fix_ else []
    except reconcile_.ReconcileError as exc:
        click.echo(f"seatsync: {exc}", err=True)
        ctx.exit(2)
    except Exception as exc:  # a provider or database failure: cron needs 2, not a traceback
        from adapter.providers.errors import classify

        click.echo(f"seatsync: reconcile failed: {classify(exc).reason if live else exc}", err=True)
        ctx.exit(2)
    finally:
        db.close()
    if fixed:
        from adapter.sync.worker import Worker, WorkerConfig

        outcomes = Worker(settings, catalog=catalog, config=WorkerConfig(coalesce_delay=0)).run_once()
        sent = {o.account: o.sent for o in outcomes}
        for name in fixed:
            click.echo(f"fix: {name}: due for sync, {sent.get(name, 0)} quantity updates sent", err=True)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif fmt == "csv":
        click.echo(reconcile_.to_csv(report), nl=False)
    else:
        for text in reconcile_.render_table(report):
            click.echo(text)
    ctx.exit(2 if report.errors else (1 if report.differences else 0))


def main():
    cli(prog_name="seatsync")


if __name__ == "__main__":
    main()
