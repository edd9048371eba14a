"""Backfill: the mirror from list APIs, resumable, the same as the webhook-built one; the CLI with a progress bar."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adapter import store
from adapter.callbacks import backfill, mirror
from adapter.cli.main import cli
from tests.fixtures import load


class ListSource:
    """An in-memory provider with Stripe-style cursors; ``fail_after`` simulates an interruption."""

    provider = "stripe"
    lists = ("subscriptions", "invoices", "invoice_items", "credit_notes", "charges")

    def __init__(self, objects: dict[str, list[dict]], customers: dict[str, dict], fail_after: int | None = None):
        self.objects = objects
        self.customers = customers
        self.fail_after = fail_after
        self.served = 0

    def list(self, resource, since, cursor):
        if resource == "charges":
            raise LookupError("not served")
        items = self.objects.get(resource, [])
        start = 0 if cursor is None else [o["id"] for o in items].index(cursor) + 1
        for obj in items[start:]:
            if self.fail_after is not None and self.served >= self.fail_after:
                raise ConnectionError("connection reset")
            self.served += 1
            yield obj["id"], json.loads(json.dumps(obj))

    def fetch_customer(self, customer_id):
        return self.customers.get(customer_id)

    def kind(self, resource):
        from adapter.providers.stripe.client import StripeSource

        return StripeSource.KINDS.get(resource, "customer")

    def save_options(self, version):
        return {"version": version, "refetched": True}

    def version_marker(self):
        return 1770000000

    def unavailable(self, exc):
        return isinstance(exc, LookupError)


def world():
    invoice = load("stripe/invoice_paid.json")
    failed = load("stripe/invoice_payment_failed.json")
    item = load("stripe/invoiceitem.json") | {"invoice": "in_1Renew000"}
    objects = {"subscriptions": [load("stripe/subscription.json")], "invoices": [failed, invoice],
               "invoice_items": [item], "credit_notes": [load("stripe/credit_note.json")]}
    return objects, {"cus_T1a2b3c4": load("stripe/customer.json")}


def test_backfill_saves_every_list_and_the_customers_they_name(memory_db, settings):
    objects, customers = world()
    report = backfill.BackfillReport()
    steps = list(backfill.backfill(memory_db, settings, ListSource(objects, customers), report=report))
    assert [s.resource for s in steps] == ["subscriptions", "invoices", "invoices", "invoice_items", "credit_notes",
                                           "customers"]
    assert report.complete and report.skipped == ["charges"]
    assert report.saved == {"subscriptions": 1, "invoices": 2, "invoice_items": 1, "credit_notes": 1, "customers": 1}
    sub = store.mirror_row(memory_db, "mirror_subscriptions", "stripe", "sub_1Q2w3e4r")
    assert sub["version"] == 1770000000 and sub["account"] == "acct_acme"
    assert store.mirror_row(memory_db, "mirror_customers", "stripe", "cus_T1a2b3c4")["email"] == "billing@acme.example"
    assert store.get_watermark(memory_db, backfill.run_key("stripe", None) + "invoices") is None  # cleaned up


def test_an_interrupted_backfill_resumes_where_it_stopped(memory_db, settings, tmp_path):
    from adapter.store.connection import open_db

    objects, customers = world()
    interrupted = ListSource(objects, customers, fail_after=2)
    with pytest.raises(ConnectionError):
        list(backfill.backfill(memory_db, settings, interrupted))
    assert store.get_watermark(memory_db, backfill.run_key("stripe", None) + "invoices") == "in_1Failed00"
    resumed = ListSource(objects, customers)
    report = backfill.BackfillReport()
    list(backfill.backfill(memory_db, settings, resumed, report=report))
    assert report.resumed == ["invoices"] and resumed.served == 3  # only what was left
    whole = open_db(tmp_path / "whole.db")
    list(backfill.backfill(whole, settings, ListSource(objects, customers)))
    assert mirror.comparable(memory_db, "stripe") == mirror.comparable(whole, "stripe")


def test_cli_backfill_runs_against_the_sandbox_with_a_progress_bar(sandbox, stripe_client, tmp_path, monkeypatch):
    from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

    _, customer = stripe_customer_on_clock(stripe_client, 1767225600)
    seat = stripe_price(stripe_client, "Seat", 1000)
    stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 3}]})
    database = tmp_path / "cli.db"
    monkeypatch.setenv("SEATSYNC_DATABASE", str(database))
    monkeypatch.setenv("SEATSYNC_PRODUCT_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_sandbox")
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    result = CliRunner().invoke(cli, ["backfill", "--provider", "stripe", "--format", "json"])
    assert result.exit_code == 0, result.output + (result.stderr or "")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["complete"] and summary["saved"]["subscriptions"] == 1 and summary["saved"]["invoices"] == 1
    assert "backfill stripe" in result.stderr  # the progress bar
    db = store.open_db(database)
    assert [r["id"] for r in store.mirror_rows(db, "mirror_customers", "stripe")] == [customer.id]


def test_cli_backfill_without_a_key_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SEATSYNC_DATABASE", str(tmp_path / "x.db"))
    monkeypatch.setenv("SEATSYNC_PRODUCT_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["backfill", "--provider", "stripe"])
    assert result.exit_code == 2 and "STRIPE_API_KEY" in result.stderr
    bad = CliRunner().invoke(cli, ["backfill", "--provider", "paddle"])
    assert bad.exit_code == 2


def test_chargebee_client_splits_a_local_base_and_turns_off_https_only_for_http(settings, monkeypatch):
    from dataclasses import replace

    from chargebee import Chargebee

    from adapter.providers.chargebee.client import chargebee_client

    monkeypatch.setattr(Chargebee, "verify_ca_certs", True)
    secure = chargebee_client(replace(settings, chargebee_api_key="k", chargebee_api_base="https://acme-test.chargebee.com"))
    assert secure.env.api_endpoint == "https://acme-test.chargebee.com/api/v2"
    assert Chargebee.verify_ca_certs is True
    local = chargebee_client(replace(settings, chargebee_api_key="k", chargebee_api_base="http://127.0.0.1:18080"))
    assert local.env.api_endpoint == "http://127.0.0.1:18080/api/v2"
    assert Chargebee.verify_ca_certs is False  # the SDK's class-level scheme switch (docs/chargebee.md#sdk-quirks)
    with pytest.raises(ValueError):
        chargebee_client(replace(settings, chargebee_api_key="k", chargebee_api_base="http://localhost:18080"))


def test_stripe_client_uses_the_configured_base(settings):
    from dataclasses import replace

    from adapter.providers.stripe.client import stripe_client

    with pytest.raises(LookupError):
        stripe_client(settings)
    client = stripe_client(replace(settings, stripe_api_key="sk_test_x", stripe_api_base="http://127.0.0.1:1"))
    assert client._requestor.base_addresses["api"] == "http://127.0.0.1:1"
