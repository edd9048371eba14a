"""``POST /webhooks/stripe``: verify, store the raw event durably, answer 2xx; the worker does the rest."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, request

from adapter.callbacks import events as provider_events
from adapter.providers.stripe import shapes as stripe_shapes
from adapter.providers.stripe.client import WebhookPayloadError, WebhookSignatureError, verify_webhook

from .db import get_db
from .problems import Problem

bp = Blueprint("stripe_webhooks", __name__)


def _event_errors(event) -> list[dict]:
    if not isinstance(event, dict):
        return [{"field": "", "reason": "must be a JSON object"}]
    errors = []
    for name in ("id", "type"):
        if not isinstance(event.get(name), str) or not event.get(name):
            errors.append({"field": f"/{name}", "reason": "must be a non-empty string"})
    if type(event.get("created")) is not int:  # bool is an int subclass: true is not a time
        errors.append({"field": "/created", "reason": "must be integer Unix seconds"})
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        errors.append({"field": "/data/object", "reason": "must be an object"})
    else:
        for name in ("id", "object"):
            if name in data["object"] and not isinstance(data["object"][name], str):
                errors.append({"field": f"/data/object/{name}", "reason": "must be a string"})
    return errors


@bp.post("/webhooks/stripe")
def receive_stripe():
    settings = current_app.config["SEATSYNC"]
    body = request.get_data()
    try:
        verify_webhook(body, request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets)
    except WebhookSignatureError as exc:
        raise Problem(401, "Unauthorized", "The Stripe signature did not verify; nothing was stored.",
                      errors=[{"field": "Stripe-Signature", "reason": str(exc)}], slug="bad-signature") from None
    except WebhookPayloadError as exc:
        raise Problem(400, "Invalid event", "Only snapshot events are accepted; nothing was stored.",
                      errors=[{"field": "", "reason": str(exc)}]) from None
    try:
        event = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Problem(400, "Invalid event", errors=[{"field": "", "reason": "body is not UTF-8 JSON"}]) from None
    errors = _event_errors(event) or stripe_shapes.event_errors(event)
    if errors:
        raise Problem(400, "Invalid event", "Nothing was stored.", errors=errors)
    stored = provider_events.record_event(get_db(), "stripe", event, body)
    return {"received": True, "duplicate": not stored}
