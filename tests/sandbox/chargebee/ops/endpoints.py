"""Webhook endpoints as configuration objects (chargebee-python 3 ``WebhookEndpoint``: create, retrieve,
update, list, delete; ``WebhookEndpointResponse`` fields), for a caller that checks a site's setup.

Stored and shown, never delivered to: the sandbox's own delivery is configured through the control
API (``/_sandbox/webhooks/chargebee/endpoints``) and stays as it is. ``name`` and ``url`` are
required (``CreateParams``); ``api_version`` v1|v2, ``chargebee_response_schema_type``
plans_addons|items|compat and every ``enabled_events`` value must be what chargebee-python declares
(``WebhookEndpoint.ApiVersion``, ``enums.ChargebeeResponseSchemaType``, ``enums.EventType``);
``basic_auth_username``/``basic_auth_password`` are kept but never shown (the response model declares
neither). At most 5 endpoints per site (reference chargebee.md §5, webhook_settings).

Sandbox readings (UNVERIFIED): defaults ``api_version=v2``, ``chargebee_response_schema_type=items``,
``disabled``/``primary_url``/``send_card_resource`` false; without ``enabled_events`` the field is
left out (every event); the sixth endpoint is refused with 400 ``resource_limit_exceeded``; names
and URLs are not checked for uniqueness; http and https URLs are accepted, anything else refused.
"""

from __future__ import annotations

from urllib.parse import urlparse

from chargebee.models import enums

from .. import params as p
from ..errors import ChargebeeError, not_found, wrong_value
from ..state import ChargebeeState

MAX_ENDPOINTS = 5
EVENT_TYPES = frozenset(e.value for e in enums.EventType)
SCHEMA_TYPES = tuple(e.value for e in enums.ChargebeeResponseSchemaType)
FLAGS = ("primary_url", "disabled", "send_card_resource")


def _url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise wrong_value("url", "url : invalid value")
    return value


def _events(params: dict) -> list[str] | None:
    raw = params.get("enabled_events")
    if raw is None:
        return None
    values = [raw[k] for k in sorted(raw, key=int)] if isinstance(raw, dict) else [raw]
    for n, event in enumerate(values):
        if event not in EVENT_TYPES:
            raise wrong_value(f"enabled_events[{n}]", f"enabled_events[{n}] : {event} is not an event type")
    return list(dict.fromkeys(values))


def _apply(endpoint: dict, params: dict) -> None:
    for name in ("name", "basic_auth_username", "basic_auth_password"):
        value = p.string(params, name, max_length=100 if name == "name" else None)
        if value is not None:
            endpoint["_" + name if name.startswith("basic") else name] = value
    if params.get("url") is not None:
        endpoint["url"] = _url(p.string(params, "url"))
    api_version = p.string(params, "api_version", choices=("v1", "v2"))
    if api_version is not None:
        endpoint["api_version"] = api_version
    schema = p.string(params, "chargebee_response_schema_type", choices=SCHEMA_TYPES)
    if schema is not None:
        endpoint["chargebee_response_schema_type"] = schema
    for flag in FLAGS:
        value = p.boolean(params, flag)
        if value is not None:
            endpoint[flag] = value
    events = _events(params)
    if events is not None:
        endpoint["enabled_events"] = events


def create(state: ChargebeeState, params: dict) -> dict:
    p.required(p.string(params, "name"), "name")
    p.required(p.string(params, "url"), "url")
    live = [e for e in state.webhook_endpoints.values() if not e["_deleted"]]
    if len(live) >= MAX_ENDPOINTS:
        raise ChargebeeError(400, "resource_limit_exceeded",
                             f"A site can have at most {MAX_ENDPOINTS} webhook endpoints.")
    endpoint = {"id": state.next_id("whe"), "api_version": "v2", "chargebee_response_schema_type": "items",
                "object": "webhook_endpoint", "_deleted": False, **{flag: False for flag in FLAGS}}
    _apply(endpoint, params)
    state.webhook_endpoints[endpoint["id"]] = endpoint
    return endpoint


def get(state: ChargebeeState, endpoint_id: str) -> dict:
    endpoint = state.webhook_endpoints.get(endpoint_id)
    if endpoint is None or endpoint["_deleted"]:
        raise not_found("webhook_endpoint_id", f"Sorry, we couldn't find that resource: webhook_endpoint {endpoint_id}")
    return endpoint


def update(state: ChargebeeState, endpoint_id: str, params: dict) -> dict:
    endpoint = get(state, endpoint_id)
    _apply(endpoint, params)
    return endpoint


def delete(state: ChargebeeState, endpoint_id: str) -> dict:
    endpoint = get(state, endpoint_id)
    endpoint["_deleted"] = True
    return endpoint
