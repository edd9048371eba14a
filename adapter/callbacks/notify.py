"""Product notifications: normalized billing events POSTed to the product, signed with Standard Webhooks.

``enqueue_notification`` queues one delivery per dedupe key (for provider
events: provider, object and type, so a payment that fails and is retried by
the provider still yields one ``invoice.payment_failed``). Call it inside the
transaction that made the decision, so queueing and deciding commit together.

``deliver_due_notifications`` (the worker calls it) POSTs due deliveries to
``SEATSYNC_PRODUCT_CALLBACK_URL``, signed under
``SEATSYNC_PRODUCT_CALLBACK_SECRET`` by the ``standardwebhooks`` library. The
``webhook-id`` is derived from the dedupe key, so it is stable across retries
and the product can deduplicate on it (Standard Webhooks spec). Every attempt
goes to the delivery log. Failures are retried on the spec's example schedule
(docs/standard-webhooks.md#delivery-and-retries); a ``Retry-After`` longer than the next step is
honoured; ``410 Gone`` stops at once; after the last step the delivery is
``failed`` until ``seatsync deliveries retry ID``.

Notifications are queued even when no callback URL is configured, so the log
shows what the product would have heard; they are sent once it is set.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from adapter import store
from adapter.clock import format_us, from_us, now_us
from adapter.intake.signing import sign

TYPES = ("invoice.paid", "invoice.payment_failed", "subscription.past_due", "credit.issued", "seats.drift_detected",
         "subscription.cancelled", "subscription.paused", "subscription.resumed", "price.change_scheduled",
         "seats.unlinked")
# Delay before attempt n+1 after attempt n failed (Standard Webhooks' example schedule).
RETRY_SCHEDULE_SECONDS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
TIMEOUT_SECONDS = 15
LEASE_US = 2 * TIMEOUT_SECONDS * 1_000_000



def enqueue_notification(db: sqlite_utils.Database, type: str, account: str | None, data: dict, *,
                         dedupe_key: str | None = None, at_us: int | None = None) -> int | None:
    """Queue a notification; ``None`` when one with the same dedupe key was already queued.

    Without ``dedupe_key`` the notification is identified by its type, account
    and data, so calling twice with the same arguments still notifies once.
    """
    if type not in TYPES:
        raise ValueError(f"unknown notification type {type!r}; expected one of {', '.join(TYPES)}")
    at_us = now_us() if at_us is None else at_us
    if dedupe_key is None:
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]
        dedupe_key = f"{type}:{account}:{digest}"
    msg_id = "msg_" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    body = json.dumps({"type": type, "timestamp": format_us(at_us), "data": {"account": account, **data}},
                      sort_keys=True, separators=(",", ":"), default=str)
    return store.insert_delivery(db, {"msg_id": msg_id, "dedupe_key": dedupe_key, "type": type, "account": account,
                                      "body": body, "created_us": at_us})


def notify_unlinked(db: sqlite_utils.Database, account: str, at_us: int) -> int | None:
    """``seats.unlinked``: seat events arrived for an account never linked to a subscription (a mistyped
    account id is a seat nobody bills). Once per account per UTC day, however many events arrive."""
    day = format_us(at_us)[:10]
    return enqueue_notification(db, "seats.unlinked", account, {"date": day},
                                dedupe_key=f"seats.unlinked:{account}:{day}", at_us=at_us)


# Normalized payloads: the same keys whichever provider billed.

def invoice_data(row: dict) -> dict:
    return {"provider": row["provider"], "invoice": row["id"], "subscription": row["subscription"],
            "customer": row["customer"], "status": row["status"], "currency": row["currency"],
            "total": row["total"], "amount_due": row["amount_due"], "amount_paid": row["amount_paid"]}


def subscription_data(row: dict) -> dict:
    return {"provider": row["provider"], "subscription": row["id"], "customer": row["customer"],
            "status": row["status"], "past_due_since": row["past_due_since"]}


def credit_data(row: dict) -> dict:
    return {"provider": row["provider"], "credit_note": row["id"], "invoice": row["invoice"],
            "subscription": row["subscription"], "customer": row["customer"], "type": row["type"],
            "reason": row["reason"], "currency": row["currency"], "total": row["total"]}


def resolve_accounts(db: sqlite_utils.Database) -> int:
    """Name the account on queued notifications that were decided before their subscription was mirrored.

    Provider events arrive in any order, so a credit note or a failed payment
    can be processed before the subscription that links it to an account. The
    worker calls this after each processing pass, and the sender before each
    send; it returns how many notifications it addressed.
    """
    addressed = 0
    for row in store.unaddressed_deliveries(db):
        document = json.loads(row["body"])
        data = document["data"]
        provider, subscription = data.get("provider"), data.get("subscription")
        if not subscription and data.get("invoice") and provider:
            invoice = store.mirror_row(db, "mirror_invoices", provider, data["invoice"])
            subscription = invoice["subscription"] if invoice else None
        account = store.linked_account_for_subscription(db, provider, subscription) if subscription else None
        if account:
            data["account"] = account
            data["subscription"] = subscription
            store.address_delivery(db, row["id"], account,
                                   json.dumps(document, sort_keys=True, separators=(",", ":"), default=str))
            addressed += 1
    return addressed


# ------------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class Response:
    status: int | None
    retry_after: int | None = None
    error: str | None = None


Poster = Callable[[str, bytes, dict], Response]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A 3xx is a failed delivery (Standard Webhooks); urllib would otherwise
    # follow it, and turn the POST into a GET without the signed body.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_post(url: str, body: bytes, headers: dict) -> Response:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return Response(answer.status)
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        return Response(exc.code, int(retry_after) if retry_after and retry_after.isdigit() else None)
    except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out: the attempt failed
        return Response(None, error=f"{type(exc).__name__}: {exc}")


def signed_headers(secret: str, msg_id: str, at_us: int, body: str) -> dict:
    """Signed as a product's seat events are: seatsync's own Standard Webhooks signer."""
    return {"content-type": "application/json", **sign(secret, body, msg_id, from_us(at_us // 1_000_000 * 1_000_000))}


def next_attempt(attempts: int, response: Response, at_us: int) -> tuple[str, int]:
    """(outcome, next attempt instant) after ``attempts`` attempts ending in ``response``."""
    if response.status is not None and 200 <= response.status < 300:
        return "delivered", at_us
    if response.status == 410 or attempts > len(RETRY_SCHEDULE_SECONDS):
        return "failed", at_us
    delay = RETRY_SCHEDULE_SECONDS[attempts - 1]
    if response.retry_after is not None:
        delay = max(delay, response.retry_after)
    return "pending", at_us + delay * 1_000_000


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due_notifications(db: sqlite_utils.Database, settings, *, post: Poster = http_post,
                              clock: Callable[[], int] = now_us, owner: str = "notify", limit: int = 50,
                              delivery_id: int | None = None) -> DeliveryReport:
    """Send every due delivery (or just ``delivery_id``, whatever its schedule); log each attempt."""
    report = DeliveryReport()
    if not settings.product_callback_url or not settings.product_callback_secret:
        return report
    if store.unaddressed_deliveries(db):  # a read first: the write lock every poll would queue intake's commits
        with store.write_transaction(db):
            resolve_accounts(db)
    while True:
        rows = store.claim_deliveries(db, owner, clock(), lease_us=LEASE_US, limit=limit, delivery_id=delivery_id)
        if not rows:
            return report
        for row in rows:
            # The signature's timestamp is real time whatever ``clock`` says: the
            # product checks it against its own clock (±5 minutes).
            headers = signed_headers(settings.product_callback_secret, row["msg_id"], now_us(), row["body"])
            response = post(settings.product_callback_url, row["body"].encode(), headers)
            attempts = row["attempts"] + 1
            outcome, next_us = next_attempt(attempts, response, clock())
            store.record_delivery_attempt(db, row["id"], now_us=clock(), status=response.status,
                                          error=response.error, outcome=outcome, next_attempt_us=next_us)
            if outcome == "delivered":
                report.delivered += 1
            elif outcome == "failed":
                report.failed += 1
            else:
                report.retrying += 1
        if delivery_id is not None:
            return report


def retry_delivery(db: sqlite_utils.Database, settings, delivery_id: int, *, post: Poster = http_post,
                   clock: Callable[[], int] = now_us) -> DeliveryReport:
    """Send one delivery now (pending or failed); its schedule restarts from its attempt count."""
    return deliver_due_notifications(db, settings, post=post, clock=clock, owner="cli", delivery_id=delivery_id)
