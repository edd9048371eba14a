"""``POST /webhooks/chargebee``: check basic auth, store the raw event durably, answer 2xx.

Chargebee signs nothing; its webhooks carry HTTP basic auth (see
docs/chargebee.md#webhooks). Both halves are compared in constant time. Whether the event
is re-fetched from Chargebee before it is trusted is the worker's business
(``CHARGEBEE_WEBHOOK_REFETCH``, see adapter/provider_events.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

from flask import Blueprint, current_app, request

from adapter.callbacks import events as provider_events
from adapter.providers.chargebee import shapes as chargebee_shapes
from adapter.providers.chargebee.events import PRIMARY as CHARGEBEE_PRIMARY

from .db import get_db
from .problems import Problem, problem_response

bp = Blueprint("chargebee_webhooks", __name__)


def _credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic "):].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def authenticated(header: str | None, user: str | None, password: str | None) -> bool:
    """Basic auth against the configured pair, in constant time; never true when none is configured."""
    if not user or not password:
        return False
    given = _credentials(header)
    if given is None:
        return False
    user_ok = hmac.compare_digest(given[0].encode(), user.encode())
    password_ok = hmac.compare_digest(given[1].encode(), password.encode())
    return user_ok & password_ok  # both compared whatever the first says


def _event_errors(event) -> list[dict]:
    if not isinstance(event, dict):
        return [{"field": "", "reason": "must be a JSON object"}]
    errors = []
    for name in ("id", "event_type"):
        if not isinstance(event.get(name), str) or not event.get(name):
            errors.append({"field": f"/{name}", "reason": "must be a non-empty string"})
    if type(event.get("occurred_at")) is not int:  # bool is an int subclass: true is not a time
        errors.append({"field": "/occurred_at", "reason": "must be integer Unix seconds"})
    content = event.get("content")
    if not isinstance(content, dict):
        errors.append({"field": "/content", "reason": "must be an object"})
    else:
        for name in CHARGEBEE_PRIMARY:  # the entity the event is about is found by its id
            entity = content.get(name)
            if isinstance(entity, dict) and "id" in entity and not isinstance(entity["id"], str):
                errors.append({"field": f"/content/{name}/id", "reason": "must be a string"})
    version = event.get("api_version")
    if version is not None and str(version).lower() != "v2":
        errors.append({"field": "/api_version", "reason": f"seatsync reads v2 events, got {version!r}"})
    return errors


@bp.post("/webhooks/chargebee")
def receive_chargebee():
    settings = current_app.config["SEATSYNC"]
    if not authenticated(request.headers.get("Authorization"), settings.chargebee_webhook_user,
                         settings.chargebee_webhook_password):
        reason = ("CHARGEBEE_WEBHOOK_USER/PASSWORD are not configured, so nothing can be authenticated"
                  if not settings.chargebee_webhook_user else "missing or wrong basic-auth credentials")
        return problem_response(
            Problem(401, "Unauthorized", "Nothing was stored.", errors=[{"field": "Authorization", "reason": reason}],
                    slug="bad-credentials"),
            headers={"WWW-Authenticate": 'Basic realm="seatsync", charset="UTF-8"'},
        )
    body = request.get_data()
    try:
        event = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Problem(400, "Invalid event", errors=[{"field": "", "reason": "body is not UTF-8 JSON"}]) from None
    errors = _event_errors(event) or chargebee_shapes.event_errors(event)
    if errors:
        raise Problem(400, "Invalid event", "Nothing was stored.", errors=errors)
    stored = provider_events.record_event(get_db(), "chargebee", event, body)
    return {"received": True, "duplicate": not stored}
