"""Stripe through the official SDK: the client, and fetch functions that return plain dicts.

Only modules of ``adapter/providers/`` import a provider SDK. Fetch functions only read; saving is
``adapter/callbacks/mirror.py``'s job (github-to-sqlite's split), so every fetch can be replaced by captured JSON in
tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import stripe

from adapter.providers.pacing import Pacer, pacer_for
from adapter.providers.retry import call_with_retries

PAGE_SIZE = 100


if TYPE_CHECKING:
    from stripe.params import EventListParams


class _Retrieving(Protocol):
    """A StripeClient service that retrieves one object by id (customers, invoices, …)."""

    def retrieve(self, object_id: str, /) -> stripe.StripeObject: ...


class _Listing(Protocol):
    """A StripeClient service that lists objects, page by page."""

    def list(self, params: Any = None) -> stripe.ListObject[Any]: ...


def stripe_client(settings) -> stripe.StripeClient:
    """The one place a ``StripeClient`` is built (API base from ``STRIPE_API_BASE``), paced by the key's
    shared request budget (``adapter/pacing.py``) unless ``STRIPE_RATE_LIMIT`` turns pacing off."""
    if not settings.stripe_api_key:
        raise LookupError("STRIPE_API_KEY is not set")
    pacer = pacer_for("stripe", settings.stripe_api_key, settings.stripe_rate_limit, settings.database.parent)
    http_client = _paced_http_client(pacer) if pacer else None
    return stripe.StripeClient(settings.stripe_api_key, base_addresses={"api": settings.stripe_api_base},
                               http_client=http_client)


def _paced_http_client(pacer: Pacer) -> stripe.HTTPClient:
    """The SDK's default HTTP client, taking a slot of the key's budget before every request. A 429 from
    a limiter (``Stripe-Rate-Limited-Reason``; a 429 without it is a lock timeout, docs/stripe.md#rate-limits)
    pauses every sender: for ``Retry-After`` if given, else for one window."""
    default = stripe.new_default_http_client()

    class Paced(type(default)):  # type: ignore[misc]  # the SDK picks the class at runtime
        def request(self, method, url, headers, post_data=None):  # noqa: ANN001 - the SDK's signature
            pacer.acquire()
            content, status, response_headers = super().request(method, url, headers, post_data)
            if status == 429 and _header(response_headers, "Stripe-Rate-Limited-Reason"):
                pacer.pause(_seconds(_header(response_headers, "Retry-After")) or 1.0)
            return content, status, response_headers

    return Paced()


def _header(headers, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def as_dict(obj: Any) -> dict:
    """An SDK object as the JSON the API sent (decimals as strings, like a webhook payload)."""
    return obj.to_dict(for_json=True)


def _not_found(exc: stripe.StripeError) -> bool:
    return getattr(exc, "http_status", None) == 404


def fetch_invoice_lines(client: stripe.StripeClient, invoice_id: str) -> list[dict]:
    page = client.v1.invoices.line_items.list(invoice_id, params={"limit": PAGE_SIZE})
    return [as_dict(line) for line in page.auto_paging_iter()]


def fetch_subscription_items(client: stripe.StripeClient, subscription_id: str) -> list[dict]:
    page = client.v1.subscription_items.list(params={"subscription": subscription_id, "limit": PAGE_SIZE})
    return [as_dict(item) for item in page.auto_paging_iter()]


def complete(client: stripe.StripeClient, obj: dict) -> dict:
    """Fill embedded lists that were cut short (``has_more``): invoice lines, subscription items."""
    if obj.get("object") == "invoice" and (obj.get("lines") or {}).get("has_more"):
        lines = fetch_invoice_lines(client, obj["id"])
        obj["lines"] = dict(obj["lines"], data=lines, has_more=False)
    if obj.get("object") == "subscription" and (obj.get("items") or {}).get("has_more"):
        items = fetch_subscription_items(client, obj["id"])
        obj["items"] = dict(obj["items"], data=items, has_more=False)
    return obj


def fetch_object(client: stripe.StripeClient, object_type: str, object_id: str) -> dict | None:
    """The object as Stripe has it now, complete; ``None`` if Stripe no longer has it."""
    services: dict[str, _Retrieving] = {
        "customer": client.v1.customers,
        "subscription": client.v1.subscriptions,
        "invoice": client.v1.invoices,
        "credit_note": client.v1.credit_notes,
        "charge": client.v1.charges,
        "invoiceitem": client.v1.invoice_items,
    }
    if object_type not in services:
        raise ValueError(f"no fetch for Stripe object type {object_type!r}")
    try:
        obj = as_dict(services[object_type].retrieve(object_id))
    except stripe.InvalidRequestError as exc:
        if _not_found(exc):
            return None
        raise
    if obj.get("deleted"):
        return None
    return complete(client, obj)


def fetch_event(client: stripe.StripeClient, event_id: str) -> dict | None:
    try:
        return as_dict(client.v1.events.retrieve(event_id))
    except stripe.InvalidRequestError as exc:
        if _not_found(exc):
            return None
        raise


def fetch_events(client: stripe.StripeClient, *, created_gte: int | None = None,
                 undelivered_only: bool = False) -> Iterator[dict]:
    """Events newest first (Stripe's order), back to ``created_gte``; Stripe keeps 30 days.

    ``undelivered_only``: ``delivery_success=false``, the events still pending
    or failed at a webhook endpoint (Stripe's documented recovery listing).
    """
    params: EventListParams = {"limit": PAGE_SIZE}
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    if undelivered_only:
        params["delivery_success"] = False
    for event in client.v1.events.list(params=params).auto_paging_iter():
        yield as_dict(event)


# Backfill: every list the mirror is built from, each resumable by ``starting_after``.
LISTS = ("subscriptions", "invoices", "invoice_items", "credit_notes", "charges")


def newest_event_created(client: stripe.StripeClient) -> int | None:
    """``created`` of Stripe's newest event: "now" on the provider's clock (test clocks included)."""
    page = client.v1.events.list(params={"limit": 1})
    return page.data[0].created if page.data else None


def list_unavailable(exc: Exception) -> bool:
    """A list endpoint this API base does not serve (404), as opposed to a failure worth stopping for."""
    return isinstance(exc, stripe.InvalidRequestError) and _not_found(exc)


def fetch_list(client: stripe.StripeClient, resource: str, *, created_gte: int | None = None,
               starting_after: str | None = None) -> Iterator[dict]:
    """One resource's objects, complete, in Stripe's list order, after the ``starting_after`` cursor."""
    services: dict[str, _Listing] = {
        "subscriptions": client.v1.subscriptions,
        "invoices": client.v1.invoices,
        "invoice_items": client.v1.invoice_items,
        "credit_notes": client.v1.credit_notes,
        "charges": client.v1.charges,
    }
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    if resource == "subscriptions":
        params["status"] = "all"  # the default leaves out canceled subscriptions
    if created_gte is not None and resource != "credit_notes":  # credit notes have no created filter
        params["created"] = {"gte": created_gte}
    if starting_after is not None:
        params["starting_after"] = starting_after
    for obj in services[resource].list(params=params).auto_paging_iter():
        yield complete(client, as_dict(obj))


class StripeFetcher:
    """``adapter.provider_events.ObjectFetcher`` over a ``StripeClient``."""

    def __init__(self, client: stripe.StripeClient):
        self.client = client

    def fetch_object(self, object_type: str, object_id: str) -> dict | None:
        return fetch_object(self.client, object_type, object_id)

    def fetch_invoice_lines(self, invoice_id: str) -> list[dict]:
        return fetch_invoice_lines(self.client, invoice_id)

    def fetch_event(self, event_id: str) -> dict | None:
        return fetch_event(self.client, event_id)


class WebhookSignatureError(Exception):
    """The ``Stripe-Signature`` header does not verify under any configured secret."""


class WebhookPayloadError(Exception):
    """The payload is signed but is not a snapshot event (for example a thin ``v2`` event)."""


def verify_webhook(payload: bytes, signature_header: str | None, secrets: tuple[str, ...]) -> None:
    """Verify with ``stripe.Webhook.construct_event`` under each secret in turn (rotation).

    The SDK checks the HMAC of ``"{t}.{raw body}"`` for every ``v1`` entry and
    the 300-second tolerance (docs/stripe.md#webhook-signatures).
    """
    if not secrets:
        raise WebhookSignatureError("no STRIPE_WEBHOOK_SECRETS are configured, so nothing can be verified")
    if not signature_header:
        raise WebhookSignatureError("header is missing")
    for secret in secrets:
        try:
            stripe.Webhook.construct_event(payload, signature_header, secret)
        except stripe.SignatureVerificationError:
            continue
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            # Verified, but not an event object the SDK can build: a thin event, a JSON array or
            # scalar (the SDK fails on it with AttributeError), or nesting deeper than Python recurses.
            raise WebhookPayloadError(f"not a snapshot event object ({type(exc).__name__})") from None
        return
    raise WebhookSignatureError("no signature matches any configured secret, or the timestamp is too old")


def create_demo_subscription(client, account: str, plan, quantity: int, key: str) -> str:
    """A customer and a subscription for a demo account, linked by ``seatsync_account`` metadata; ``key``
    makes a retried create replay instead of making a second one."""
    # Each demo customer follows its own test clock, so `seatsync demo advance` can run a month
    # through Stripe's test_helpers API (renewals, invoices, their webhooks).
    test_clock = call_with_retries(lambda: client.v1.test_helpers.test_clocks.create(
        {"frozen_time": int(time.time())}, {"idempotency_key": f"{key}:clock"}))
    customer = call_with_retries(lambda: client.v1.customers.create(
        {"name": account, "payment_method": "pm_card_visa", "metadata": {"seatsync_account": account},
         "test_clock": test_clock.id},
        {"idempotency_key": f"{key}:customer"}))
    items = [{"price": plan.seat.price_id, "quantity": quantity}]
    if plan.base_fee:
        items.append({"price": plan.base_fee.price_id, "quantity": 1})
    return call_with_retries(lambda: client.v1.subscriptions.create(
        {"customer": customer.id, "items": items, "metadata": {"seatsync_account": account}},
        {"idempotency_key": f"{key}:subscription"})).id


class StripeSource:
    provider = "stripe"

    # Listed resource → mirrored kind.
    KINDS = {"subscriptions": "subscription", "invoices": "invoice", "invoice_items": "pending_charge",
             "credit_notes": "credit_note", "charges": "payment"}

    def __init__(self, settings):
        import sys

        self._api = sys.modules[__name__]
        self._client = stripe_client(settings)
        self.lists = LISTS

    def list(self, resource, since, cursor):
        for obj in self._api.fetch_list(self._client, resource, created_gte=since, starting_after=cursor):
            yield obj["id"], obj

    def fetch_customer(self, customer_id):
        return self._api.fetch_object(self._client, "customer", customer_id)

    def version_marker(self):
        return self._api.newest_event_created(self._client)

    def unavailable(self, exc):
        return self._api.list_unavailable(exc)

    def kind(self, resource):
        return self.KINDS[resource] if resource != "customers" else "customer"

    def save_options(self, version):
        # Listed objects are the current state; their ordering version is the newest event's ``created``
        # when the run started, so an older webhook event makes the worker re-fetch instead of overwriting.
        return {"version": version, "refetched": True}


def list_events_since(client: stripe.StripeClient, since: int | None) -> Iterator[dict]:
    """What the sweeper lists: events no endpoint acknowledged, back to ``since``."""
    return fetch_events(client, created_gte=since, undelivered_only=True)
