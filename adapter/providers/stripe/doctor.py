"""``seatsync doctor`` for Stripe: the catalogue's prices (``GET /v1/prices/{id}``), the webhook endpoint
(``GET /v1/webhook_endpoints``) and the settings (docs/providers.md#webhook-endpoints)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import stripe

from adapter.billing.policy import Catalog
from adapter.providers.doctor import (
    CannotCheck,
    Finding,
    common_settings,
    compare,
    events_finding,
    expected_prices,
    setting,
)
from adapter.providers.stripe.client import stripe_client

# The events whose arrival seatsync acts on (adapter/callbacks/events.py, the mirror and the lifecycle
# notifications); the sweeper lists missed ones, but only of types the endpoint would have sent.
NEEDED_EVENTS = (
    "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
    "customer.subscription.paused", "customer.subscription.resumed",
    "invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_failed", "invoice.voided",
    "invoice.marked_uncollectible",
    "invoiceitem.created", "invoiceitem.deleted",
    "credit_note.created",
    "customer.deleted",
)
WEBHOOK_PATH = "/webhooks/stripe"


def _price(client: stripe.StripeClient, price_id: str) -> dict[str, Any] | None:
    try:
        price = client.v1.prices.retrieve(price_id).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval") if recurring.get("interval_count", 1) == 1 else \
        f"{recurring.get('interval_count')} {recurring.get('interval')}s"
    pricing = price.get("billing_scheme")
    if recurring.get("usage_type", "licensed") != "licensed":
        pricing = f"{pricing} ({recurring.get('usage_type')})"  # metered prices take no quantity
    return {"unit_amount": price.get("unit_amount"), "currency": str(price.get("currency", "")).upper(),
            "interval": interval, "pricing": pricing, "active": price.get("active")}


def _endpoints(client: stripe.StripeClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.v1.webhook_endpoints.list(params)  # type: ignore[arg-type]
        found += [e.to_dict() for e in page.data]
        if not page.has_more or not page.data:
            return found
        params["starting_after"] = page.data[-1].id


def webhook_findings(endpoints: list[dict[str, Any]], url: str | None) -> Iterator[Finding]:
    """The endpoint seatsync receives on: ``url`` exactly when given, else any ending in /webhooks/stripe."""
    want = url.rstrip("/") + WEBHOOK_PATH if url else None
    ours = [e for e in endpoints if (e.get("url") == want if want else str(e.get("url", "")).endswith(WEBHOOK_PATH))]
    if not ours:
        listed = ", ".join(str(e.get("url")) for e in endpoints) or "none"
        yield Finding(False, "webhook", want or f"*{WEBHOOK_PATH}",
                      f"no Stripe webhook endpoint posts there (endpoints: {listed})")
        return
    for endpoint in ours:
        subject = f"{endpoint.get('id')} {endpoint.get('url')}"
        if endpoint.get("status") != "enabled":
            yield Finding(False, "webhook", subject, f"status {endpoint.get('status')!r}: Stripe sends nothing")
            continue
        yield events_finding(subject, endpoint.get("enabled_events") or [], NEEDED_EVENTS)


def check(settings: Any, catalog: Catalog, url: str | None) -> list[Finding]:
    findings = list(common_settings(settings))
    findings.append(setting(bool(settings.stripe_webhook_secrets), "STRIPE_WEBHOOK_SECRETS",
                            f"{len(settings.stripe_webhook_secrets)} secret(s)" if settings.stripe_webhook_secrets
                            else "unset: every Stripe webhook is refused with 401"))
    client = stripe_client(settings)
    try:
        for expected in expected_prices(catalog, "stripe"):
            findings.append(compare(expected, _price(client, expected.price_id), where="Stripe"))
        findings += webhook_findings(_endpoints(client), url)
    except (stripe.AuthenticationError, stripe.PermissionError, stripe.APIConnectionError) as exc:
        raise CannotCheck(f"Stripe at {settings.stripe_api_base}: {type(exc).__name__}: "
                          f"{exc.user_message or exc}") from None
    return findings
