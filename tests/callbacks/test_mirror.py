"""Save functions on an in-memory database from captured-shape JSON (github-to-sqlite style)."""

import json

import pytest

from adapter import store
from adapter.callbacks import mirror
from adapter.providers.normalize import decimal_text
from tests.fixtures import load


def test_stripe_subscription_row_items_and_account(memory_db):
    saved = mirror.save_subscription(memory_db, load("stripe/subscription.json"), provider="stripe", version=100)
    assert saved.applied
    row = store.mirror_row(memory_db, "mirror_subscriptions", "stripe", "sub_1Q2w3e4r")
    assert {k: v for k, v in row.items() if k != "raw"} == {
        "provider": "stripe", "id": "sub_1Q2w3e4r", "customer": "cus_T1a2b3c4", "account": "acct_acme",
        "status": "active", "currency": "usd", "current_period_start": 1767225600,
        "current_period_end": 1769904000, "past_due_since": None, "deleted": 0, "version": 100,
    }
    assert json.loads(row["raw"]) == load("stripe/subscription.json")
    items = store.mirror_rows(memory_db, "mirror_subscription_items", "stripe")
    assert [{k: v for k, v in i.items() if k != "raw"} for i in items] == [{
        "provider": "stripe", "id": "si_SeAt0001", "subscription": "sub_1Q2w3e4r", "price": "price_seat_monthly",
        "quantity": 5, "unit_amount_decimal": "1000", "current_period_start": 1767225600,
        "current_period_end": 1769904000,
    }]


def test_stripe_invoice_lines_keep_proration_period_and_exact_unit_amount(memory_db):
    mirror.save_invoice(memory_db, load("stripe/invoice_paid.json"), provider="stripe", version=200)
    lines = {r["id"]: r for r in store.mirror_rows(memory_db, "mirror_invoice_lines", "stripe")}
    assert set(lines) == {"il_Prorate01", "il_Cycle0001"}
    proration = lines["il_Prorate01"]
    assert (proration["proration"], proration["quantity"], proration["amount"]) == (1, 3, 2000)
    assert proration["unit_amount_decimal"] == "666.6666666666667"  # kept as text, never a float
    assert (proration["period_start"], proration["period_end"]) == (1768435200, 1769904000)
    assert proration["pending_charge"] == "ii_Prorate01"
    assert lines["il_Cycle0001"]["proration"] == 0
    invoice = store.mirror_row(memory_db, "mirror_invoices", "stripe", "in_1Renew000")
    assert (invoice["subscription"], invoice["status"], invoice["total"], invoice["amount_paid"]) == \
        ("sub_1Q2w3e4r", "paid", 8000, 8000)


def test_invoice_marks_the_pending_items_it_swept(memory_db):
    mirror.save_pending_charge(memory_db, load("stripe/invoiceitem.json"), provider="stripe", version=150)
    assert store.mirror_row(memory_db, "mirror_pending_charges", "stripe", "ii_Prorate01")["invoice"] is None
    mirror.save_invoice(memory_db, load("stripe/invoice_paid.json"), provider="stripe", version=200)
    assert store.mirror_row(memory_db, "mirror_pending_charges", "stripe", "ii_Prorate01")["invoice"] == "in_1Renew000"
    # A re-delivered creation snapshot (invoice: null) must not un-bill it.
    mirror.save_pending_charge(memory_db, load("stripe/invoiceitem.json"), provider="stripe", refetched=True,
                               version=150)
    assert store.mirror_row(memory_db, "mirror_pending_charges", "stripe", "ii_Prorate01")["invoice"] == "in_1Renew000"


def test_stripe_guard_applies_only_strictly_newer_snapshots(memory_db):
    sub = load("stripe/subscription.json")
    assert mirror.save_subscription(memory_db, sub, provider="stripe", version=100).applied
    older = json.loads(json.dumps(sub))
    older["items"]["data"][0]["quantity"] = 2
    assert not mirror.save_subscription(memory_db, older, provider="stripe", version=99).applied
    assert not mirror.save_subscription(memory_db, older, provider="stripe", version=100).applied  # same second
    assert store.mirror_rows(memory_db, "mirror_subscription_items", "stripe")[0]["quantity"] == 5
    # A re-fetched object is the provider's truth whatever its event's time.
    assert mirror.save_subscription(memory_db, older, provider="stripe", version=100, refetched=True).applied
    row = store.mirror_row(memory_db, "mirror_subscriptions", "stripe", "sub_1Q2w3e4r")
    assert row["version"] == 100
    assert store.mirror_rows(memory_db, "mirror_subscription_items", "stripe")[0]["quantity"] == 2


def test_chargebee_resource_version_guard(memory_db):
    created = load("chargebee/subscription_created.json")["content"]["subscription"]
    changed = load("chargebee/subscription_changed.json")["content"]["subscription"]
    assert mirror.save_subscription(memory_db, changed, provider="chargebee").applied
    assert not mirror.save_subscription(memory_db, created, provider="chargebee").applied  # older arrives late
    assert not mirror.save_subscription(memory_db, changed, provider="chargebee").applied  # same version again
    row = store.mirror_row(memory_db, "mirror_subscriptions", "chargebee", "AzZsub01")
    assert row["version"] == 1768435200456
    items = store.mirror_rows(memory_db, "mirror_subscription_items", "chargebee")
    assert [(i["id"], i["price"], i["quantity"], i["unit_amount_decimal"]) for i in items] == [
        ("AzZsub01:seat-USD-monthly", "seat-USD-monthly", 8, "1000")]
    assert row["account"] == "acct_globex"


def test_chargebee_invoice_lines_have_no_proration_flag(memory_db):
    invoice = load("chargebee/payment_failed.json")["content"]["invoice"]
    mirror.save_invoice(memory_db, invoice, provider="chargebee")
    lines = store.mirror_rows(memory_db, "mirror_invoice_lines", "chargebee")
    assert [(l["id"], l["price"], l["quantity"], l["amount"], l["proration"], l["period_start"], l["period_end"])
            for l in lines] == [
        ("li_AzZline001", "seat-USD-monthly", 3, 2000, None, 1768435200, 1769903999),
        ("li_AzZline002", "seat-USD-monthly", 8, 8000, None, 1769904000, 1772323199),
    ]
    row = store.mirror_row(memory_db, "mirror_invoices", "chargebee", "AzZinv0002")
    assert (row["subscription"], row["status"], row["subtotal"], row["amount_due"]) == \
        ("AzZsub01", "payment_due", 10000, 10000)


def test_chargebee_due_invoices_mark_a_past_due_episode(memory_db):
    sub = load("chargebee/payment_failed.json")["content"]["subscription"]
    mirror.save_subscription(memory_db, sub, provider="chargebee")
    row = store.mirror_row(memory_db, "mirror_subscriptions", "chargebee", "AzZsub01")
    assert row["past_due_since"] == "1769904000"


def test_payments_credit_notes_and_unbilled_charges(memory_db):
    content = load("chargebee/payment_failed.json")["content"]
    mirror.save_payment(memory_db, content["transaction"], provider="chargebee")
    mirror.save_payment(memory_db, load("stripe/charge.json"), provider="stripe", version=1)
    payments = {(r["provider"], r["id"]): r for r in store.mirror_rows(memory_db, "mirror_payments")}
    assert payments[("chargebee", "txn_AzZtxn0001")]["invoice"] == "AzZinv0002"
    assert payments[("chargebee", "txn_AzZtxn0001")]["status"] == "failure"
    assert payments[("stripe", "ch_3Paid0001")]["kind"] == "charge"
    mirror.save_credit_note(memory_db, load("chargebee/credit_note_created.json")["content"]["credit_note"],
                            provider="chargebee")
    note = store.mirror_row(memory_db, "mirror_credit_notes", "chargebee", "AzZcn00001")
    assert (note["invoice"], note["type"], note["total"], note["reason"]) == \
        ("AzZinv0002", "adjustment", 1500, "Subscription Change")
    charge = load("chargebee/subscription_changed.json")["content"]["unbilled_charges"][0]
    mirror.save_pending_charge(memory_db, charge, provider="chargebee")
    row = store.mirror_row(memory_db, "mirror_pending_charges", "chargebee", "li_AzZub0001")
    assert (row["amount"], row["quantity"], row["voided"], row["invoice"], row["version"]) == \
        (2000, 3, 0, None, 1768435200000)


def test_floats_are_refused_as_unit_amounts():
    with pytest.raises(TypeError):
        decimal_text(666.67)
    assert decimal_text("1000.00") == "1000"


def test_unknown_provider_is_refused(memory_db):
    with pytest.raises(ValueError):
        mirror.save_customer(memory_db, {"id": "x"}, provider="paddle")


def test_pending_item_arriving_after_its_invoice_is_billed_by_it(memory_db):
    mirror.save_invoice(memory_db, load("stripe/invoice_paid.json"), provider="stripe", version=200)
    mirror.save_pending_charge(memory_db, load("stripe/invoiceitem.json"), provider="stripe", version=150)
    assert store.mirror_row(memory_db, "mirror_pending_charges", "stripe", "ii_Prorate01")["invoice"] == "in_1Renew000"


def test_a_snapshot_without_the_deleted_flag_does_not_bring_a_deleted_row_back(memory_db):
    from adapter import store

    base = {"provider": "chargebee", "id": "uc_1", "amount": 500, "deleted": 1, "voided": 1, "raw": "{}"}
    store.upsert_mirror_row(memory_db, "mirror_pending_charges", base)
    store.upsert_mirror_row(memory_db, "mirror_pending_charges", dict(base, amount=700, deleted=0, voided=0))
    row = store.mirror_row(memory_db, "mirror_pending_charges", "chargebee", "uc_1")
    assert (row["amount"], row["deleted"], row["voided"]) == (700, 1, 1)
