"""``seatsync doctor`` against the sandbox: the catalogue's prices at the provider, the webhook endpoint and its
events, the secrets; exit 0 all ok, 1 problems, 2 cannot check."""

from __future__ import annotations

import json
import re
import typing

import pytest
from click.testing import CliRunner

from adapter.billing.policy import load_catalog
from adapter.cli.main import cli
from adapter.providers.catalog import create_chargebee_prices
from adapter.providers.chargebee import doctor as chargebee_doctor
from adapter.providers.stripe import doctor as stripe_doctor
from tests.conftest import PRODUCT_SECRET, REPO_ROOT
from tests.support.provisioning import provision_stripe

HOST = "https://billing.example.com"


def doctor(env, *args):
    clean = {k: None for k in ("STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRETS", "CHARGEBEE_SITE",
                               "CHARGEBEE_API_KEY", "CHARGEBEE_API_BASE", "CHARGEBEE_WEBHOOK_USER",
                               "CHARGEBEE_WEBHOOK_PASSWORD", "SEATSYNC_PRODUCT_SECRETS")}
    result = CliRunner().invoke(cli, ["doctor", *args], env={**clean, **env}, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def stripe_env(tmp_path, sandbox, stripe_client):
    provision_stripe(stripe_client, tmp_path / "mappings")
    stripe_client.v1.webhook_endpoints.create({"url": HOST + "/webhooks/stripe",
                                               "enabled_events": list(stripe_doctor.NEEDED_EVENTS)})
    return {"STRIPE_API_KEY": "sk_test_sandbox", "STRIPE_API_BASE": sandbox.url,
            "STRIPE_WEBHOOK_SECRETS": "whsec_abc", "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET,
            "SEATSYNC_MAPPINGS": str(tmp_path / "mappings"), "SEATSYNC_DATABASE": str(tmp_path / "seatsync.db")}


def test_a_stripe_account_set_up_as_mappings_says_passes(stripe_env, tmp_path):
    code, output = doctor(stripe_env, "--url", HOST, "--format", "json")
    assert code == 0, output
    report = json.loads(output)
    prices = [f for f in report["findings"] if f["check"] == "price"]
    stripe_ids = {pid for plan in load_catalog(tmp_path / "mappings").plans.values() if plan.provider == "stripe"
                  for pid in plan.seat.ids}
    assert stripe_ids <= {f["subject"] for f in prices}  # every seat price id was looked up
    assert all(f["ok"] for f in report["findings"])
    assert [f["check"] for f in report["findings"]].count("webhook") == 1


def test_doctor_finds_a_price_whose_amount_differs_from_mappings(stripe_env, tmp_path):
    path = tmp_path / "mappings" / "standard_premium.toml"
    text = path.read_text()
    seat_line = next(line for line in text.splitlines() if line.startswith("seat = ") and "unit_amount = 500 " in line)
    price_id = re.search(r'price_id = "([^"]+)"', seat_line).group(1)
    path.write_text(text.replace(seat_line, seat_line.replace("unit_amount = 500 ", "unit_amount = 550 ")))
    code, output = doctor(stripe_env)
    assert code == 1, output
    [problem] = [line for line in output.splitlines() if "PROBLEM" in line]
    assert price_id in problem and "unit_amount 500 at Stripe, 550 in" in problem and "standard_premium.toml" in problem
    assert output.strip().endswith("checks") and output.splitlines()[-1].startswith("1 problem(s)")


def test_doctor_finds_a_missing_price_a_wrong_interval_and_missing_events(stripe_env, tmp_path, stripe_client):
    path = tmp_path / "mappings" / "standard_premium.toml"
    text = path.read_text()
    seat_line = next(line for line in text.splitlines() if line.startswith("seat = "))
    old_id = re.search(r'price_id = "([^"]+)"', seat_line).group(1)
    path.write_text(text.replace(old_id, "price_nobody_made", 1))
    [endpoint] = stripe_client.v1.webhook_endpoints.list().data
    stripe_client.v1.webhook_endpoints.update(endpoint.id, {"enabled_events": ["invoice.paid"]})
    code, output = doctor(stripe_env, "--url", HOST)
    assert code == 1
    assert re.search(r"PROBLEM\s+price\s+price_nobody_made: does not exist at Stripe", output)
    assert "does not enable credit_note.created, customer.deleted" in output
    code, output = doctor(stripe_env, "--url", "https://elsewhere.example.com")
    assert code == 1 and "no Stripe webhook endpoint posts there" in output


def test_missing_secrets_are_problems(stripe_env):
    code, output = doctor({**stripe_env, "STRIPE_WEBHOOK_SECRETS": "", "SEATSYNC_PRODUCT_SECRETS": ""})
    assert code == 1
    assert re.search(r"PROBLEM\s+setting\s+STRIPE_WEBHOOK_SECRETS: unset", output)
    assert re.search(r"PROBLEM\s+setting\s+SEATSYNC_PRODUCT_SECRETS: unset", output)


def test_doctor_exits_2_when_it_cannot_check(stripe_env, tmp_path):
    code, output = doctor({"SEATSYNC_DATABASE": str(tmp_path / "x.db")})
    assert code == 2 and "no provider is configured" in output
    code, output = doctor({**stripe_env, "STRIPE_API_KEY": "sk_live_not_a_test_key"})
    assert code == 2 and "cannot check Stripe" in output  # the sandbox refuses a non-test key (401)
    code, output = doctor({**stripe_env, "STRIPE_API_BASE": "http://127.0.0.1:9"})
    assert code == 2 and "cannot check Stripe" in output and "Traceback" not in output


def test_the_needed_events_are_event_types_the_sdks_declare():
    from chargebee.models import enums
    from stripe.params import WebhookEndpointCreateParams

    def literals(annotation):
        found = set()
        for arg in typing.get_args(annotation):
            found |= {arg} if isinstance(arg, str) else literals(arg)
        return found

    assert set(stripe_doctor.NEEDED_EVENTS) <= literals(WebhookEndpointCreateParams.__annotations__["enabled_events"])
    assert set(chargebee_doctor.NEEDED_EVENTS) <= {e.value for e in enums.EventType}
    # Every type seatsync acts on by name is needed (adapter/callbacks/events.py).
    assert {"invoice.paid", "invoice.payment_failed", "customer.subscription.updated",
            "credit_note.created"} <= set(stripe_doctor.NEEDED_EVENTS)
    assert {"payment_failed", "credit_note_created", "unbilled_charges_invoiced"} <= set(chargebee_doctor.NEEDED_EVENTS)


@pytest.fixture
def chargebee_env(tmp_path, sandbox, chargebee_client):
    create_chargebee_prices(chargebee_client, load_catalog(REPO_ROOT / "mappings"))
    chargebee_client.WebhookEndpoint.create({"name": "seatsync", "url": HOST + "/webhooks/chargebee",
                                             "api_version": "v2",
                                             "enabled_events": list(chargebee_doctor.NEEDED_EVENTS),
                                             "basic_auth_username": "u", "basic_auth_password": "p"})
    return {"CHARGEBEE_SITE": "127", "CHARGEBEE_API_KEY": "test_sandbox",
            "CHARGEBEE_API_BASE": f"http://127.0.0.1:{sandbox.port}", "CHARGEBEE_WEBHOOK_USER": "u",
            "CHARGEBEE_WEBHOOK_PASSWORD": "p", "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET,
            "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"), "SEATSYNC_DATABASE": str(tmp_path / "seatsync.db")}


def test_a_chargebee_site_set_up_as_mappings_says_passes_and_a_changed_amount_is_found(chargebee_env, tmp_path):
    code, output = doctor(chargebee_env, "--url", HOST)
    assert code == 0, output
    # The same catalogue with one Chargebee amount changed.
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for source in (REPO_ROOT / "mappings").glob("*.toml"):
        (mappings / source.name).write_text(source.read_text())
    catalog = load_catalog(mappings)
    plan = next(p for p in catalog.plans.values() if p.provider == "chargebee")
    path = mappings / plan.source.split("/")[-1]
    text = path.read_text()
    old = f'price_id = "{plan.seat.price_id}", unit_amount = {plan.seat.unit_amount}'
    assert old in text
    path.write_text(text.replace(old, f'price_id = "{plan.seat.price_id}", unit_amount = {plan.seat.unit_amount + 1}'))
    code, output = doctor({**chargebee_env, "SEATSYNC_MAPPINGS": str(mappings)}, "--url", HOST)
    assert code == 1, output
    [problem] = [line for line in output.splitlines() if "PROBLEM" in line]
    assert plan.seat.price_id in problem and f"unit_amount {plan.seat.unit_amount} at Chargebee" in problem


def test_a_chargebee_endpoint_on_api_v1_or_without_basic_auth_settings_is_a_problem(chargebee_env, chargebee_client):
    [entry] = chargebee_client.WebhookEndpoint.list({}).list
    chargebee_client.WebhookEndpoint.update(entry.webhook_endpoint.id, {"api_version": "v1"})
    code, output = doctor({**chargebee_env, "CHARGEBEE_WEBHOOK_USER": "", "CHARGEBEE_WEBHOOK_PASSWORD": ""})
    assert code == 1
    assert "api_version 'v1'" in output
    assert re.search(r"PROBLEM\s+setting\s+CHARGEBEE_WEBHOOK_USER: unset", output)
