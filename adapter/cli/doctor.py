"""``seatsync doctor``: the configured provider checked against mappings/ (docs/providers.md#seatsync-doctor)."""

from __future__ import annotations

import click

from adapter.cli.base import cli


@cli.command(short_help="Check the provider against mappings/ and the webhook setup.",
             epilog=("Examples:\n\n\b\n"
                     "  seatsync doctor\n"
                     "  seatsync doctor --url https://billing.example.com\n"
                     "  seatsync doctor --format json"))
@click.option("--url", help="Public base URL seatsync receives webhooks on (https://host); default: any "
                            "endpoint whose URL ends in /webhooks/<provider>.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def doctor(ctx: click.Context, url: str | None, fmt: str):
    """Every price id of the configured provider's plans and addons exists there with the amount, currency,
    interval and pricing model mappings/ gives; the webhook endpoint exists and enables every event
    seatsync needs; keys and secrets are set. Only reads. Exit 0 all ok, 1 problems found, 2 cannot check
    (no provider key set, the provider unreachable or the key refused, a broken catalogue)."""
    import json
    from dataclasses import asdict

    from adapter.billing.policy import CatalogError, load_catalog
    from adapter.config import ConfigError, load_settings
    from adapter.providers import registry
    from adapter.providers.doctor import CannotCheck

    try:
        settings = load_settings()  # as configured: no embedded world, no generated secret
    except ConfigError as exc:
        click.echo(f"seatsync: doctor: configuration error: {exc}", err=True)
        ctx.exit(2)
    configured = [p for p in registry.providers() if p.configured(settings)]
    if not configured:
        click.echo("seatsync: doctor: no provider is configured (set STRIPE_API_KEY, or CHARGEBEE_SITE and "
                   "CHARGEBEE_API_KEY); nothing to check", err=True)
        ctx.exit(2)
    try:
        catalog = load_catalog(settings.mappings)
    except CatalogError as exc:
        click.echo(f"seatsync: doctor: SEATSYNC_MAPPINGS: {exc.errors[0]} (run `seatsync policies check`)", err=True)
        ctx.exit(2)
    findings = []
    for provider in configured:
        try:
            findings += [(provider.name, f) for f in provider.doctor(settings, catalog, url)]
        except CannotCheck as exc:
            click.echo(f"seatsync: doctor: cannot check {provider.display_name}: {exc}", err=True)
            ctx.exit(2)
    problems = sum(not f.ok for _, f in findings)
    if fmt == "json":
        click.echo(json.dumps({"problems": problems,
                               "findings": [{"provider": name, **asdict(f)} for name, f in findings]}, indent=2))
    else:
        for name, finding in findings:
            click.echo(f"{name:<10} {finding.line()}")
        click.echo(f"{problems} problem(s) in {len(findings)} checks" if problems else
                   f"all {len(findings)} checks ok")
    ctx.exit(1 if problems else 0)
