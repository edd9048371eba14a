"""Webhook endpoints as configuration objects (stripe-python 16.1.0 ``WebhookEndpoint`` and
``WebhookEndpoint{Create,Update}Params``), for a caller that checks an account's setup.

Stored and shown, never delivered to: the sandbox's own delivery is configured through the control
API (``/_sandbox/webhooks/stripe/endpoints``) and stays as it is. ``enabled_events`` and
``api_version`` must be values stripe-python declares (``*`` = every event); ``secret`` is shown only
in the answer to the create call ("Only returned at creation"); ``disabled`` sets ``status``
``disabled``/``enabled``; a deleted endpoint answers ``{id, object, deleted: true}`` and is gone.
Sandbox readings (UNVERIFIED): ``http`` and ``https`` URLs are accepted, anything else refused;
``api_version`` is null unless given; no limit on the number of endpoints; the refusals' wording.
"""

from __future__ import annotations

import secrets
import typing
from functools import lru_cache
from urllib.parse import urlparse

from stripe.params import WebhookEndpointCreateParams

from ..errors import StripeError
from .objects import merge_metadata
from ..state import Ledger


def _literals(annotation) -> frozenset[str]:
    found: set[str] = set()
    for arg in typing.get_args(annotation):
        found |= {arg} if isinstance(arg, str) else _literals(arg)
    return frozenset(found)


@lru_cache(maxsize=None)
def declared(field: str) -> frozenset[str]:
    """The values stripe-python declares for ``enabled_events`` / ``api_version``."""
    return _literals(WebhookEndpointCreateParams.__annotations__[field])


def _url(value) -> str:
    parsed = urlparse(value if isinstance(value, str) else "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise StripeError.invalid(f"Invalid URL: {value}", param="url")
    return value


def _events(value) -> list[str]:
    if not isinstance(value, list) or not value:
        raise StripeError.invalid("enabled_events must be a non-empty list of event types.", param="enabled_events")
    for n, event in enumerate(value):
        if event not in declared("enabled_events"):
            raise StripeError.invalid(f"Invalid event type: {event}", param=f"enabled_events[{n}]")
    return list(dict.fromkeys(value))


def create(ledger: Ledger, params: dict) -> dict:
    for name in ("url", "enabled_events"):
        if params.get(name) in (None, "", []):
            raise StripeError.missing(name)
    api_version = params.get("api_version")
    if api_version is not None and api_version not in declared("api_version"):
        raise StripeError.invalid(f"Invalid api_version: {api_version}", param="api_version")
    endpoint = {"id": ledger.new_id("we"), "object": "webhook_endpoint", "api_version": api_version,
                "application": None, "created": ledger.default_time, "description": params.get("description"),
                "enabled_events": _events(params["enabled_events"]), "livemode": False,
                "metadata": merge_metadata({}, params.get("metadata") or {}), "status": "enabled",
                "url": _url(params["url"]), "_secret": f"whsec_{secrets.token_hex(16)}"}
    ledger.webhook_endpoints[endpoint["id"]] = endpoint
    return endpoint


def update(ledger: Ledger, endpoint: dict, params: dict, disabled: bool | None) -> dict:
    if params.get("url") is not None:
        endpoint["url"] = _url(params["url"])
    if params.get("enabled_events") is not None:
        endpoint["enabled_events"] = _events(params["enabled_events"])
    if params.get("description") is not None:
        endpoint["description"] = params["description"] or None
    if params.get("metadata") is not None:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"] or {})
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    return endpoint


def get(ledger: Ledger, endpoint_id: str) -> dict:
    endpoint = ledger.get(ledger.webhook_endpoints, "webhook_endpoint", endpoint_id)
    if endpoint.get("_deleted"):
        raise StripeError.no_such("webhook_endpoint", endpoint_id)
    return endpoint
