"""``seatsync reconcile``: every seat count and invoice line explained, or flagged."""

from __future__ import annotations

import click

from adapter.cli.base import _instant, _open, cli, get_settings, require_world, world_clock, world_now_us

# --- reconciliation (issue 7) -----------------------------------------------------------------------


def _window(period: str | None, since: str | None, until: str | None) -> tuple[int, int | None]:
    """``--period YYYY-MM`` (a UTC calendar month) or ``--since``/``--until`` (RFC 3339; until: none given,
    each account's now, ``_since_before_now`` checks)."""
    from adapter import reconcile as reconcile_

    if period is not None:
        if since is not None or until is not None:
            raise click.UsageError("give --period or --since/--until, not both")
        try:
            return reconcile_.month_window(period)
        except ValueError:
            raise click.BadParameter("expected YYYY-MM", param_hint="--period") from None
    since_us = _instant(since, "--since") if since is not None else 0
    until_us = _instant(until, "--until") if until is not None else None
    if until_us is not None and until_us <= since_us:
        raise click.BadParameter("must be after --since", param_hint="--until")
    return since_us, until_us


def _since_before_now(db, since: str | None, since_us: int, until_us: int | None, now_us: int, clock,
                      account: str | None) -> None:
    """Only --since given: it must be before now, the latest provider clock among the accounts checked (a
    test clock may be ahead of ours), else ours; name it, and the now it was compared with."""
    from adapter import reconcile as reconcile_
    from adapter.clock import format_us

    if until_us is not None or since is None:
        return
    latest = reconcile_.latest_now(db, now_us=now_us, clock=clock, account=account)
    if since_us >= latest:
        raise click.BadParameter(f"is after now ({format_us(latest)}); give an earlier instant",
                                 param_hint="--since")


def _clocks(db, settings):
    """Each account's provider clock, through the configured providers (``adapter/reconcile/clocks.py``)."""
    from adapter import reconcile as reconcile_
    from adapter.providers import registry

    return reconcile_.provider_clocks(db, registry.seat_clients(settings))


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


def _after_fix(db, catalog, report, fixed, settings, reader, world, *, quiet: bool, **window):
    """``--fix``: one worker pass over the drifted accounts, what it changed, then the report again.

    The report after the fix reads seat quantities from the provider (the mirror learns of the fix only
    when the provider's webhook arrives), so a drift the fix corrected is no longer listed.
    """
    from adapter import reconcile as reconcile_
    from adapter.sync.worker import Worker, WorkerConfig

    before = {d.account: d for d in report.differences if d.kind in ("seat_drift", "never_synced")}
    outcomes = Worker(settings, catalog=catalog, config=WorkerConfig(coalesce_delay=0), now_us=world).run_once()
    sent = {o.account: o for o in outcomes}
    out = click.echo if not quiet else (lambda text: click.echo(text, err=True))
    for name in fixed:
        outcome, difference = sent.get(name), before.get(name)
        what = (f"the provider had {difference.actual_quantity} seats, the ledger {difference.expected_quantity}"
                if difference is not None and difference.actual_quantity is not None else "made due")
        if outcome is None:
            out(f"fixed    {name}: {what}; made due, and another worker (the running server's) took it")
        elif not outcome.sent:
            out(f"fixed    {name}: {what}; nothing sent"
                + (" yet: deferred by the provider's budget" if outcome.deferred else ": the provider already agrees"))
        else:
            out(f"fixed    {name}: {what}; {outcome.sent} quantity update{'s' if outcome.sent != 1 else ''} sent"
                + (f", {outcome.dead} dead-lettered" if outcome.dead else ""))
    live = reader if reader is not None else _live_quantity_reader(settings)
    if not quiet:
        out("report after the fix (seat quantities read from the provider):")
    return reconcile_.reconcile(db, catalog, live=live, **window)


NO_RUN_STORED = 3  # ``--last`` with no stored run: distinct from 2 (an error), so cron can tell


def _render(report, fmt: str, run_info: dict | None = None) -> None:
    """The report in ``fmt``; a stored run's own facts (which, when, how old) ahead of it."""
    import json

    from adapter import reconcile as reconcile_

    if fmt == "json":
        click.echo(json.dumps({**({"run": run_info} if run_info is not None else {}), **report.as_dict()}, indent=2))
    elif fmt == "csv":
        click.echo(reconcile_.to_csv(report), nl=False)
    else:
        if run_info is not None:
            click.echo(f"run      {run_info['id']} ({run_info['trigger']}), finished {run_info['finished']}, "
                       f"{_age(run_info['age_seconds'])} ago, in {run_info['duration_seconds']:.1f} s")
        for text in reconcile_.render_table(report):
            click.echo(text)


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _exit_code(report) -> int:
    return 2 if report.errors else (1 if report.differences else 0)


def _last(ctx: click.Context, fmt: str) -> None:
    """``--last``: the newest stored run, read, never run."""
    from adapter.reconcile import runs

    db = _open(ctx)
    try:
        stored = runs.last_run(db)
        running = runs.in_progress(db, world_now_us(ctx))
    finally:
        db.close()
    if stored is None:
        click.echo("seatsync: no reconcile run is stored yet: the worker stores one every "
                   "SEATSYNC_RECONCILE_INTERVAL seconds (default 3600), or run `seatsync reconcile --store`"
                   + (f"; {running} is in progress" if running else ""), err=True)
        ctx.exit(NO_RUN_STORED)
    _render(stored.report, fmt, stored.info(world_now_us(ctx)))
    ctx.exit(_exit_code(stored.report))


def _refuse_with_last(ctx: click.Context) -> None:
    given = [f"--{name.rstrip('_').replace('_', '-')}" for name in ("account", "period", "since", "until", "tolerance",
                                                                   "live", "fix_", "store_")
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(f"--last prints the stored run as it was run; it takes only --format, not "
                               f"{', '.join(given)}")


@cli.command(short_help="Check every seat count and invoice line against the ledger.",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync reconcile\n"
                     "  seatsync reconcile --account demo-standard --live\n"
                     "  seatsync reconcile --period 2026-11 --format csv\n"
                     "  seatsync reconcile --fix\n"
                     "  seatsync reconcile --store\n"
                     "  seatsync reconcile --last --format json"))
@click.option("--account", default=None, help="Only this account.")
@click.option("--period", default=None, help="A UTC calendar month, YYYY-MM.")
@click.option("--since", default=None, help="RFC 3339 instant (default: the beginning).")
@click.option("--until", default=None,
              help="RFC 3339 instant, exclusive (default: now: each account's provider clock when it has one).")
@click.option("--tolerance", type=click.IntRange(min=0), default=1, show_default=True,
              help="Minor units a matched line's amount may differ by.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--live", is_flag=True, help="Read seat quantities from the provider's API, not the mirror.")
@click.option("--fix", "fix_", is_flag=True,
              help="Re-push drifted quantities through the sync worker (never invoices).")
@click.option("--store", "store_", is_flag=True,
              help="Store the run, as the worker's scheduled runs are, for /ops/reconciliation and --last.")
@click.option("--last", is_flag=True, help="Print the last stored run (runs nothing); exit 3 when none is stored.")
@click.pass_context
def reconcile(ctx, account, period, since, until, tolerance, fmt, live, fix_, store_, last):
    """Expected (ledger + policy) against actual (provider) seats and invoice lines.

    Exit 0 when clean, 1 when there are differences, 2 on error; with --last, the same for the stored run,
    and 3 when no run is stored yet.
    """
    from adapter import reconcile as reconcile_
    from adapter.billing.policy import CatalogError, load_catalog

    if last:
        _refuse_with_last(ctx)
        _last(ctx, fmt)
        return
    if store_ and (account is not None or fix_):
        raise click.UsageError("--store keeps a run over every account, without --fix: not with "
                               + ("--account" if account is not None else "--fix"))
    require_world(ctx, "reconcile")
    now_us = world_now_us(ctx)
    since_us, until_us = _window(period, since, until)
    settings = get_settings(ctx)
    try:
        catalog = load_catalog(settings.mappings)
    except CatalogError as exc:
        click.echo(f"seatsync: SEATSYNC_MAPPINGS: {exc}", err=True)
        ctx.exit(2)
    reader = _live_quantity_reader(settings) if live else None
    db = _open(ctx)
    run_info = None
    try:
        clock = _clocks(db, settings)
        _since_before_now(db, since, since_us, until_us, now_us, clock, account)
        if store_:
            report, run_info = _store(ctx, db, catalog, since_us, until_us, tolerance, reader, clock)
        else:
            report = reconcile_.reconcile(db, catalog, since_us=since_us, until_us=until_us, account=account,
                                          tolerance=tolerance, now_us=now_us, live=reader, clock=clock)
        fixed = reconcile_.fix(db, report) if fix_ else []
        if fixed:
            report = _after_fix(db, catalog, report, fixed, settings, reader, world_clock(ctx), since_us=since_us,
                                until_us=until_us, account=account, tolerance=tolerance, now_us=now_us,
                                clock=clock, quiet=fmt != "table")
    except click.ClickException:
        raise
    except reconcile_.ReconcileError as exc:
        click.echo(f"seatsync: {exc}", err=True)
        ctx.exit(2)
    except Exception as exc:  # a provider or database failure: cron needs 2, not a traceback
        from adapter.providers.errors import classify

        click.echo(f"seatsync: reconcile failed: {classify(exc).reason if live else exc}", err=True)
        ctx.exit(2)
    finally:
        db.close()
    _render(report, fmt, run_info)
    ctx.exit(_exit_code(report))


def _store(ctx, db, catalog, since_us, until_us, tolerance, reader, clock):
    """``--store``: run and store (one run at a time with the workers'), then read the stored run back."""
    import os
    import socket

    from adapter import reconcile as reconcile_
    from adapter import store
    from adapter.reconcile import runs

    world = world_clock(ctx)
    run_id = runs.run_and_store(db, catalog, trigger="cli", owner=f"cli:{socket.gethostname()}:{os.getpid()}",
                                since_us=since_us, until_us=until_us, now_us=world, tolerance=tolerance,
                                live=reader, clock=clock)
    if run_id is None:
        raise reconcile_.ReconcileError(f"--store: another run holds the lease ({runs.in_progress(db, world())}); "
                                        "wait for it, or read it with --last")
    row = store.reconcile_run(db, run_id)
    if row is None:  # pruned at once: only with a keep of 0, which nothing here passes
        raise reconcile_.ReconcileError(f"--store: run {run_id} was stored and is gone")
    stored = runs.stored(db, row)
    return stored.report, stored.info(world())
