"""Webhook endpoints as configuration objects in both halves, and the price fields a configuration
check compares (stripe-python 16.1.0 ``WebhookEndpoint``/``Price``; chargebee-python 3
``WebhookEndpoint``/``ItemPrice``). They are never delivered to: delivery stays the control API's."""

from __future__ import annotations

import dataclasses

import pytest
import stripe
from chargebee import InvalidRequestError
from chargebee.models.webhook_endpoint.responses import WebhookEndpointResponse

from tests.sandbox.chargebee.testing import SEAT, Site
from tests.support.sandbox_fixtures import stripe_price


def test_stripe_webhook_endpoints_round_trip(stripe_client, sandbox):
    v1 = stripe_client.v1
    created = v1.webhook_endpoints.create({"url": "https://example.test/hooks", "api_version": "2026-10-28.endive",
                                           "enabled_events": ["invoice.paid", "customer.subscription.updated"],
                                           "description": "seatsync"})
    assert created.secret.startswith("whsec_") and created.status == "enabled"
    assert created.enabled_events == ["invoice.paid", "customer.subscription.updated"]
    fetched = v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched  # "Only returned at creation"
    assert (fetched.url, fetched.api_version, fetched.description) == \
        ("https://example.test/hooks", "2026-10-28.endive", "seatsync")
    updated = v1.webhook_endpoints.update(created.id, {"disabled": True, "enabled_events": ["*"]})
    assert (updated.status, updated.enabled_events) == ("disabled", ["*"])
    assert [e.id for e in v1.webhook_endpoints.list().data] == [created.id]
    deleted = v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        v1.webhook_endpoints.retrieve(created.id)
    assert v1.webhook_endpoints.list().data == []
    # A configuration object only: the control API's delivery list is untouched.
    assert sandbox.world.webhooks.endpoints("stripe") == []


def test_stripe_webhook_endpoints_refuse_what_is_not_declared_or_modelled(stripe_client):
    v1 = stripe_client.v1
    for params, param in (({"url": "https://example.test", "enabled_events": ["invoice.nope"]}, "enabled_events[0]"),
                          ({"url": "ftp://example.test", "enabled_events": ["*"]}, "url"),
                          ({"url": "https://example.test", "enabled_events": ["*"], "api_version": "1999-01-01"},
                           "api_version"),
                          ({"url": "https://example.test", "enabled_events": ["*"], "connect": True}, "connect"),
                          ({"enabled_events": ["*"]}, "url")):
        with pytest.raises(stripe.InvalidRequestError) as info:
            v1.webhook_endpoints.create(params)
        assert info.value.param == param


def test_stripe_price_carries_what_a_configuration_check_compares(stripe_client):
    price = stripe_client.v1.prices.retrieve(stripe_price(stripe_client, "Seat", 1250, "year").id)
    assert (price.unit_amount, price.currency, price.type, price.billing_scheme, price.tiers_mode) == \
        (1250, "usd", "recurring", "per_unit", None)
    assert (price.recurring.interval, price.recurring.interval_count, price.recurring.usage_type,
            price.recurring.trial_period_days) == ("year", 1, "licensed", None)


@pytest.fixture
def cb_site(sandbox, chargebee_client) -> Site:
    return Site(sandbox, chargebee_client)


def test_chargebee_webhook_endpoints_round_trip(cb_site, sandbox):
    cb = cb_site.cb
    created = cb.WebhookEndpoint.create({"name": "seatsync", "url": "https://example.test/cb",
                                         "basic_auth_username": "hook", "basic_auth_password": "s3cret",
                                         "enabled_events": ["subscription_changed", "invoice_generated"]})
    endpoint = created.webhook_endpoint
    assert (endpoint.api_version, endpoint.disabled, endpoint.enabled_events) == \
        ("v2", False, ["subscription_changed", "invoice_generated"])
    declared = {f.name for f in dataclasses.fields(WebhookEndpointResponse)} | {"object"}
    assert set(endpoint.raw_data) <= declared and "basic_auth_password" not in endpoint.raw_data
    updated = cb.WebhookEndpoint.update(endpoint.id, {"disabled": True, "url": "https://example.test/v2"}).webhook_endpoint
    assert (updated.disabled, updated.url) == (True, "https://example.test/v2")
    assert [e.webhook_endpoint.id for e in cb.WebhookEndpoint.list().list] == [endpoint.id]
    assert cb.WebhookEndpoint.retrieve(endpoint.id).webhook_endpoint.name == "seatsync"
    cb.WebhookEndpoint.delete(endpoint.id)
    with pytest.raises(InvalidRequestError) as gone:
        cb.WebhookEndpoint.retrieve(endpoint.id)
    assert gone.value.http_status_code == 404
    assert sandbox.world.webhooks.endpoints("chargebee") == []


def test_chargebee_webhook_endpoints_refuse_bad_values_and_a_sixth_endpoint(cb_site):
    cb = cb_site.cb
    with pytest.raises(InvalidRequestError) as bad_event:
        cb.WebhookEndpoint.create({"name": "x", "url": "https://example.test", "enabled_events": ["nope"]})
    assert bad_event.value.param == "enabled_events[0]"
    with pytest.raises(InvalidRequestError) as no_name:
        cb.WebhookEndpoint.create({"url": "https://example.test"})
    assert no_name.value.param == "name"
    for n in range(5):
        cb.WebhookEndpoint.create({"name": f"e{n}", "url": f"https://example.test/{n}"})
    with pytest.raises(InvalidRequestError) as sixth:
        cb.WebhookEndpoint.create({"name": "e5", "url": "https://example.test/5"})
    assert sixth.value.api_error_code == "resource_limit_exceeded"


def test_chargebee_item_price_carries_what_a_configuration_check_compares(cb_site):
    cb_site.price(SEAT, "plan", 1000)
    price = cb_site.cb.ItemPrice.retrieve(SEAT).item_price
    assert (price.price, price.currency_code, price.period, price.period_unit, price.pricing_model,
            price.item_type) == (1000, "USD", 1, "month", "per_unit", "plan")
