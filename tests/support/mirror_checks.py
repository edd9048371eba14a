"""The mirror against the provider's own state, read back through the official SDKs.

Shared by the mirror tests (tests/test_mirror_sandbox_*.py, tests/e2e/test_mirror_matrix.py): after
webhooks (duplicated, reordered, dropped) and the sweeper, every table the callbacks fill must say
what the sandbox says now. Each ``assert_*`` names the object and field that differ.
"""

from __future__ import annotations

from adapter import store

# ------------------------------------------------------------------------------------ Stripe


def stripe_provider_state(client, customer_id: str) -> tuple[list, list, list]:
    """The customer's subscriptions, invoices and invoice items (pending or swept) as Stripe has them."""
    subs = list(client.v1.subscriptions.list({"customer": customer_id, "status": "all",
                                              "limit": 100}).auto_paging_iter())
    invoices = list(client.v1.invoices.list({"customer": customer_id, "limit": 100}).auto_paging_iter())
    items = list(client.v1.invoice_items.list({"customer": customer_id, "limit": 100}).auto_paging_iter())
    return subs, invoices, items


def assert_stripe_mirror_matches_provider(db, client, customer_id: str) -> None:
    subs, invoices, items = stripe_provider_state(client, customer_id)
    for sub in subs:
        row = store.mirror_row(db, "mirror_subscriptions", "stripe", sub.id)
        assert row is not None, f"subscription {sub.id} not mirrored"
        assert row["status"] == sub.status, (sub.id, row["status"], sub.status)
        mirrored = {i["id"]: i["quantity"] for i in store.mirror_rows(db, "mirror_subscription_items", "stripe")
                    if i["subscription"] == sub.id}
        assert mirrored == {i.id: i.quantity for i in sub["items"].data}, sub.id
    assert {r["id"] for r in store.mirror_rows(db, "mirror_invoices", "stripe")} == {i.id for i in invoices}
    lines = store.mirror_rows(db, "mirror_invoice_lines", "stripe")
    for invoice in invoices:
        row = store.mirror_row(db, "mirror_invoices", "stripe", invoice.id)
        assert (row["status"], row["total"], row["amount_paid"]) == (invoice.status, invoice.total,
                                                                      invoice.amount_paid), invoice.id
        assert sorted((l["id"], l["amount"], l["quantity"]) for l in lines if l["invoice"] == invoice.id) == \
            sorted((l.id, l.amount, l.quantity) for l in invoice.lines.data), invoice.id
    charges = {r["id"]: r for r in store.mirror_rows(db, "mirror_pending_charges", "stripe")}
    assert set(charges) == {i.id for i in items}
    for item in items:
        row = charges[item.id]
        assert (row["amount"], row["quantity"], row["invoice"]) == (item.amount, item.quantity, item.invoice), item.id


# ------------------------------------------------------------------------------------ Chargebee


def chargebee_invoices(cb, subscription_id: str) -> list:
    found = cb.Invoice.list({"subscription_id": {"is": subscription_id}, "limit": 100, "sort_by": {"asc": "date"}})
    return [entry.invoice for entry in found.list]


def chargebee_credit_notes(cb, subscription_id: str) -> list:
    found = cb.CreditNote.list({"subscription_id": {"is": subscription_id}, "limit": 100,
                                "sort_by": {"asc": "date"}})
    return [entry.credit_note for entry in found.list]


def chargebee_unbilled(cb, subscription_id: str) -> list:
    found = cb.UnbilledCharge.list({"subscription_id": {"is": subscription_id}, "limit": 100})
    return [entry.unbilled_charge for entry in found.list]


def assert_chargebee_mirror_matches_provider(db, cb, subscription_id: str, *, account: str | None = None) -> None:
    sub = cb.Subscription.retrieve(subscription_id).subscription
    row = store.mirror_row(db, "mirror_subscriptions", "chargebee", subscription_id)
    assert row is not None, f"subscription {subscription_id} not mirrored"
    assert (row["status"], row["current_period_start"], row["current_period_end"]) == \
        (sub.status, sub.current_term_start, sub.current_term_end)
    if account is not None:
        assert row["account"] == account
    items = [i for i in store.mirror_rows(db, "mirror_subscription_items", "chargebee")
             if i["subscription"] == subscription_id]
    assert sorted((i["price"], i["quantity"]) for i in items) == \
        sorted((s.item_price_id, s.quantity) for s in sub.subscription_items)

    invoices = chargebee_invoices(cb, subscription_id)
    mirrored = {r["id"]: r for r in store.mirror_rows(db, "mirror_invoices", "chargebee")
                if r["subscription"] == subscription_id}
    assert set(mirrored) == {i.id for i in invoices}
    lines = store.mirror_rows(db, "mirror_invoice_lines", "chargebee")
    for invoice in invoices:
        row = mirrored[invoice.id]
        assert (row["status"], row["total"], row["amount_paid"], row["amount_due"]) == \
            (invoice.status, invoice.total, invoice.amount_paid, invoice.amount_due), invoice.id
        assert sorted((l["id"], l["price"], l["quantity"], l["amount"], l["period_start"])
                      for l in lines if l["invoice"] == invoice.id) == \
            sorted((l.id, l.entity_id, l.quantity, l.amount, l.date_from) for l in invoice.line_items), invoice.id

    notes = {r["id"]: r for r in store.mirror_rows(db, "mirror_credit_notes", "chargebee")
             if r["subscription"] == subscription_id}
    credit_notes = chargebee_credit_notes(cb, subscription_id)
    assert set(notes) == {c.id for c in credit_notes}
    for note in credit_notes:
        assert (notes[note.id]["status"], notes[note.id]["total"], notes[note.id]["invoice"]) == \
            (note.status, note.total, note.reference_invoice_id), note.id

    open_charges = {r["id"]: r for r in store.mirror_rows(db, "mirror_pending_charges", "chargebee")
                    if r["subscription"] == subscription_id and not r["deleted"] and not r["voided"]}
    unbilled = [c for c in chargebee_unbilled(cb, subscription_id) if not getattr(c, "is_voided", False)]
    assert set(open_charges) == {c.id for c in unbilled}
    for charge in unbilled:
        assert (open_charges[charge.id]["amount"], open_charges[charge.id]["quantity"]) == \
            (charge.amount, charge.quantity), charge.id
