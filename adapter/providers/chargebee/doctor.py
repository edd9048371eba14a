"""``seatsync doctor`` for Chargebee: the catalogue's item prices (``ItemPrice.retrieve``), the webhook
endpoint (``WebhookEndpoint.list``: url, api_version, enabled events; the basic-auth pair is never shown,
so only our side of it is checked) and the settings (docs/providers.md#webhook-endpoints)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from chargebee.api_error import APIError

from adapter.billing.policy import Catalog
from adapter.providers.chargebee.client import chargebee_client
from adapter.providers.doctor import (
    CannotCheck,
    Finding,
    common_settings,
    compare,
    events_finding,
    expected_prices,
    setting,
)

# The events seatsync acts on (adapter/callbacks/events.py, the mirror and the lifecycle notifications).
NEEDED_EVENTS = (
    "subscription_created", "subscription_changed", "subscription_renewed", "subscription_cancelled",
    "subscription_reactivated", "subscription_paused", "subscription_resumed",
    "invoice_generated", "invoice_updated", "payment_succeeded", "payment_failed",
    "credit_note_created",
    "unbilled_charges_created", "unbilled_charges_voided", "unbilled_charges_deleted", "unbilled_charges_invoiced",
)
WEBHOOK_PATH = "/webhooks/chargebee"


def _price(client: Any, price_id: str) -> dict[str, Any] | None:
    try:
        price = client.ItemPrice.retrieve(price_id).item_price.raw_data
    except APIError as exc:
        if exc.http_status_code == 404:
            return None
        raise
    period, unit = price.get("period"), price.get("period_unit")
    return {"unit_amount": price.get("price"), "currency": price.get("currency_code"),
            "interval": unit if period == 1 else f"{period} {unit}s", "pricing": price.get("pricing_model"),
            "active": price.get("status") == "active"}


def _endpoints(client: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.WebhookEndpoint.list(params)
        found += [entry.webhook_endpoint.raw_data for entry in page.list]
        if not page.next_offset:
            return found
        params["offset"] = page.next_offset


def webhook_findings(endpoints: list[dict[str, Any]], url: str | None, needed_all: list[str]) -> Iterator[Finding]:
    want = url.rstrip("/") + WEBHOOK_PATH if url else None
    ours = [e for e in endpoints if (e.get("url") == want if want else str(e.get("url", "")).endswith(WEBHOOK_PATH))]
    if not ours:
        listed = ", ".join(str(e.get("url")) for e in endpoints) or "none"
        yield Finding(False, "webhook", want or f"*{WEBHOOK_PATH}",
                      f"no Chargebee webhook endpoint posts there (endpoints: {listed})")
        return
    for endpoint in ours:
        subject = f"{endpoint.get('id')} {endpoint.get('url')}"
        if endpoint.get("disabled"):
            yield Finding(False, "webhook", subject, "disabled: Chargebee sends nothing")
        elif endpoint.get("api_version") not in (None, "v2"):
            yield Finding(False, "webhook", subject,
                          f"api_version {endpoint.get('api_version')!r}: seatsync reads v2 events (400 otherwise)")
        else:
            # No enabled_events: the endpoint receives every event (chargebee-python's WebhookEndpoint).
            yield events_finding(subject, endpoint.get("enabled_events") or needed_all, NEEDED_EVENTS)


def check(settings: Any, catalog: Catalog, url: str | None) -> list[Finding]:
    findings = list(common_settings(settings))
    paired = bool(settings.chargebee_webhook_user and settings.chargebee_webhook_password)
    findings.append(setting(paired, "CHARGEBEE_WEBHOOK_USER",
                            "set with CHARGEBEE_WEBHOOK_PASSWORD (enter the same pair on the endpoint)" if paired
                            else "unset: every Chargebee webhook is refused with 401"))
    client = chargebee_client(settings)
    try:
        for expected in expected_prices(catalog, "chargebee"):
            findings.append(compare(expected, _price(client, expected.price_id), where="Chargebee"))
        findings += webhook_findings(_endpoints(client), url, list(NEEDED_EVENTS))
    except (APIError, httpx.HTTPError, OSError) as exc:
        raise CannotCheck(f"Chargebee site {settings.chargebee_site or settings.chargebee_api_base}: "
                          f"{type(exc).__name__}: {exc}") from None
    return findings
