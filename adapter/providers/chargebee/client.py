"""Chargebee through the official SDK (chargebee-python 3.x): the client and fetch functions.

Only modules of ``adapter/providers/`` import a provider SDK. Fetch functions return plain dicts (the SDK
keeps the API's JSON in ``raw_data``); saving is ``adapter/callbacks/mirror.py``'s job.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from chargebee import Chargebee
from chargebee.api_error import APIError

from adapter.providers.pacing import Pacer, pacer_for
from adapter.providers.retry import call_with_retries

PAGE_SIZE = 100


def _site_and_domain(host: str) -> tuple[str, str]:
    # The SDK builds "{protocol}://{site}.{chargebee_domain}/api/v2", so a base
    # such as 127.0.0.1:8080 is split at its first dot (docs/chargebee.md#sdk-quirks).
    site, dot, domain = host.partition(".")
    if not dot or not site or not domain:
        raise ValueError(f"CHARGEBEE_API_BASE host {host!r} must contain a dot (use an IP such as 127.0.0.1)")
    return site, domain


def chargebee_client(settings) -> Chargebee:
    """The one place a ``Chargebee`` client is built, honouring ``CHARGEBEE_API_BASE``."""
    if not settings.chargebee_api_key:
        raise LookupError("CHARGEBEE_API_KEY is not set")
    base = settings.chargebee_api_base
    if not base:
        if not settings.chargebee_site:
            raise LookupError("CHARGEBEE_SITE is not set")
        return _paced(Chargebee(api_key=settings.chargebee_api_key, site=settings.chargebee_site), settings)
    parsed = urlparse(base)
    site, domain = _site_and_domain(parsed.netloc)
    if parsed.scheme == "http":
        # chargebee-python picks the scheme from the *class* attribute
        # verify_ca_certs, so protocol="http" alone still sends HTTPS (verified
        # bug, docs/chargebee.md#sdk-quirks). Only a plain-http base (the local
        # sandbox) turns it off; an https base keeps certificate checks.
        Chargebee.verify_ca_certs = False
    return _paced(Chargebee(api_key=settings.chargebee_api_key, site=site, chargebee_domain=domain,
                            protocol=parsed.scheme), settings)


def _paced(client: Chargebee, settings) -> Chargebee:
    """Every request takes a slot of the key's shared budget (``adapter/pacing.py``) first, through the
    SDK's telemetry hook, which it calls once per API request; a 429 pauses every sender briefly."""
    pacer = pacer_for("chargebee", settings.chargebee_api_key, settings.chargebee_rate_limit,
                      settings.database.parent)
    if pacer is not None:
        client.update_telemetry_adapter(_PacingTelemetry(pacer))
    return client


class _PacingTelemetry:
    def __init__(self, pacer: Pacer):
        self.pacer = pacer

    def on_request_start(self, context, request_headers):  # noqa: ANN001 - the SDK's protocol
        self.pacer.acquire()

    def on_request_end(self, handle, result):  # noqa: ANN001
        if result.http_status_code == 429 and result.error and \
                result.error.chargebee_error_code == "api_request_limit_exceeded":
            # The SDK does not hand the hook the response headers: pause for one short window.
            self.pacer.pause(1.0)


def _raw(model: Any) -> dict:
    return dict(model.raw_data)


def fetch_object(client: Chargebee, object_type: str, object_id: str) -> dict | None:
    resources = {
        "customer": client.Customer, "subscription": client.Subscription, "invoice": client.Invoice,
        "credit_note": client.CreditNote, "transaction": client.Transaction,
    }
    if object_type not in resources:
        raise ValueError(f"no fetch for Chargebee object type {object_type!r}")
    try:
        response = resources[object_type].retrieve(object_id)
    except APIError as exc:
        if exc.http_status_code == 404:
            return None
        raise
    return _raw(getattr(response, object_type))


def fetch_event(client: Chargebee, event_id: str) -> dict | None:
    """The event as Chargebee has it (retrievable for 90 days); ``None`` if Chargebee does not know it."""
    try:
        return _raw(client.Event.retrieve(event_id).event)
    except APIError as exc:
        if exc.http_status_code == 404:
            return None
        raise


def _pages(resource: Any, key: str, params: dict, offset: str | None = None) -> Iterator[tuple[str | None, dict]]:
    """(offset of the page it came from, object) through every page."""
    while True:
        page_params = dict(params, limit=PAGE_SIZE)
        if offset:
            page_params["offset"] = offset
        response = resource.list(page_params)
        for entry in response.list:
            yield offset, _raw(getattr(entry, key))
        if not response.next_offset:
            return
        offset = response.next_offset


def fetch_events(client: Chargebee, *, occurred_after: int | None = None) -> Iterator[dict]:
    """Events oldest first since ``occurred_after`` (seconds); Chargebee keeps them for 90 days."""
    params: dict[str, Any] = {"sort_by": {"asc": "occurred_at"}}
    if occurred_after is not None:
        params["occurred_at"] = {"after": occurred_after}
    for _, event in _pages(client.Event, "event", params):
        yield event


# Backfill: each resource's list API and its date filter.
LISTS = ("customers", "subscriptions", "invoices", "credit_notes", "transactions", "unbilled_charges",
         "voided_unbilled_charges")


def fetch_list(client: Chargebee, resource: str, *, since: int | None = None,
               offset: str | None = None) -> Iterator[tuple[str | None, dict]]:
    """(page offset, object) for one resource, resuming at ``offset`` (Chargebee's ``next_offset``)."""
    spec = {
        "customers": (client.Customer, "customer", "created_at"),
        "subscriptions": (client.Subscription, "subscription", "created_at"),
        "invoices": (client.Invoice, "invoice", "date"),
        "credit_notes": (client.CreditNote, "credit_note", "date"),
        "transactions": (client.Transaction, "transaction", "date"),
        "unbilled_charges": (client.UnbilledCharge, "unbilled_charge", None),
        "voided_unbilled_charges": (client.UnbilledCharge, "unbilled_charge", None),
    }
    resource_api, key, date_field = spec[resource]
    params: dict[str, Any] = {}
    if resource.endswith("unbilled_charges"):
        # Voided charges are listed only on request; both kinds are part of the state. chargebee-python
        # declares is_voided a plain boolean (UnbilledCharge.ListParams), not an is_voided[is] filter.
        params["is_voided"] = resource == "voided_unbilled_charges"
    if since is not None and date_field is not None:
        params[date_field] = {"after": since}
    yield from _pages(resource_api, key, params, offset)


class ChargebeeFetcher:
    """``adapter.provider_events.ObjectFetcher`` over a ``Chargebee`` client."""

    def __init__(self, client: Chargebee):
        self.client = client

    def fetch_object(self, object_type: str, object_id: str) -> dict | None:
        return fetch_object(self.client, object_type, object_id)

    def fetch_invoice_lines(self, invoice_id: str) -> list[dict]:
        invoice = fetch_object(self.client, "invoice", invoice_id)
        return list((invoice or {}).get("line_items") or [])

    def fetch_event(self, event_id: str) -> dict | None:
        return fetch_event(self.client, event_id)


def list_unavailable(exc: Exception) -> bool:
    """A list endpoint this API base does not serve (404), as opposed to a failure worth stopping for."""
    return isinstance(exc, APIError) and exc.http_status_code == 404


def create_demo_subscription(client, account: str, plan, quantity: int, key: str) -> str:
    """A customer and a subscription for a demo account, linked by ``seatsync_account`` metadata; ``key``
    makes a retried create replay instead of making a second one."""
    customer_id = f"{account}-{secrets.token_hex(4)}"
    call_with_retries(lambda: client.Customer.create(
        {"id": customer_id, "first_name": account, "email": f"{account}@example.com",
         "card": {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2030}},
        {"chargebee-idempotency-key": f"{key}:customer"}))
    items = [{"item_price_id": plan.seat.price_id, "quantity": max(quantity, 1)}]
    # chargebee-python form-encodes a dict value with str(); meta_data must be a JSON string.
    response = call_with_retries(lambda: client.Subscription.create_with_items(
        customer_id, {"subscription_items": items, "meta_data": json.dumps({"seatsync_account": account})},
        {"chargebee-idempotency-key": f"{key}:subscription"}))
    return response.subscription.id


class ChargebeeSource:
    provider = "chargebee"

    KINDS = {"customers": "customer", "subscriptions": "subscription", "invoices": "invoice",
             "credit_notes": "credit_note", "transactions": "payment", "unbilled_charges": "pending_charge",
             "voided_unbilled_charges": "pending_charge"}

    def __init__(self, settings):
        import sys

        self._api = sys.modules[__name__]
        self._client = chargebee_client(settings)
        self.lists = LISTS

    def list(self, resource, since, cursor):
        for offset, obj in self._api.fetch_list(self._client, resource, since=since, offset=cursor):
            yield offset or "", obj

    def fetch_customer(self, customer_id):
        return self._api.fetch_object(self._client, "customer", customer_id)

    def version_marker(self):
        return None  # Chargebee objects carry resource_version

    def unavailable(self, exc):
        return self._api.list_unavailable(exc)

    def kind(self, resource):
        return self.KINDS[resource]

    def save_options(self, version):
        return {}  # Chargebee objects carry their own resource_version


def list_events_since(client: Chargebee, since: int | None) -> Iterator[dict]:
    """What the sweeper lists: every event since ``since`` (Chargebee cannot filter by delivery)."""
    return fetch_events(client, occurred_after=since)
