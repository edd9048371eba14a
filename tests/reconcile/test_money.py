"""Honest money (issue 11): an unpaid invoice is a receivable in its own total, never also a billing
discrepancy; a line the provider invoiced early that is exactly an expected pending line is matched.
Same in-memory worlds as test_report.py: the mirror starts as exactly what the engine expects."""

from __future__ import annotations

from adapter.accounts import get_account
from adapter.billing.expected import expected_bill
from tests.reconcile.test_report import APRIL_16, MAY_1, NOW, US, account, add_line, catalog, kinds, lines_of, run

__all__ = ["catalog"]  # the module-scoped catalogue fixture, shared with test_report.py


def test_an_unpaid_threshold_invoice_is_one_receivable_and_no_discrepancy(memory_db, catalog):
    # Team annual ($100/seat/year, threshold $150): three seats on April 16 are invoiced at once; the card fails.
    changes = tuple((f"n{i}", APRIL_16, True) for i in range(3))
    sub = account(memory_db, catalog, plan="team-annual", changes=changes)
    threshold = [line for line in lines_of(memory_db, sub) if line["proration"]]
    due = sum(line["amount"] for line in threshold)
    memory_db.execute("UPDATE mirror_invoices SET status = 'open', amount_due = ? WHERE id = ?",
                      [due, threshold[0]["invoice"]])
    report = run(memory_db, catalog)
    assert kinds(report) == ["invoice_unpaid"]
    assert report.money_at_stake == {}  # nothing was billed wrong
    [unpaid] = report.differences
    assert report.receivables == {unpaid.currency: due} and unpaid.money_at_stake == due
    summary = report.summary()
    assert summary["receivables"] == report.receivables and summary["money_at_stake"] == {}
    # The table says both figures, apart.
    from adapter.reconcile import render_table

    headline = next(text for text in render_table(report) if text.startswith("found"))
    assert "at stake" not in headline and "receivable" in headline


def test_a_discrepancy_and_a_receivable_are_totalled_apart(memory_db, catalog):
    sub = account(memory_db, catalog)
    [renewal_invoice] = {line["invoice"] for line in lines_of(memory_db, sub)}
    memory_db.execute("UPDATE mirror_invoices SET status = 'open', amount_due = 3250 WHERE id = ?", [renewal_invoice])
    add_line(memory_db, renewal_invoice, sub, "il_manual", "price_manual", APRIL_16, MAY_1, 1, 1234, False)
    report = run(memory_db, catalog)
    assert sorted(kinds(report)) == ["invoice_unpaid", "unexpected_line"]
    currency = next(d.currency for d in report.differences)
    assert report.money_at_stake == {currency: 1234}
    assert report.receivables == {currency: 3250}


def test_a_pending_line_invoiced_early_is_matched(memory_db, catalog):
    # A seat added after the May 1 renewal: standard-monthly bills it on the June invoice, so at NOW it is an
    # expected pending line. The provider put it on an invoice already (an early invoice): same line, matched.
    after_renewal = MAY_1 + 1800
    sub = account(memory_db, catalog, changes=(("d", APRIL_16, True), ("e", after_renewal, True)))
    link = get_account(memory_db, "acme")
    pending = expected_bill(memory_db, catalog, link, NOW * US).bill.pending
    assert pending, "the engine keeps the May change pending until June"
    memory_db.execute("DELETE FROM mirror_invoice_lines WHERE price = ? AND period_start >= ?",
                      [pending[0].price_id, after_renewal])
    invoice = f"in_early_{after_renewal}"
    from adapter import store

    store.upsert_mirror_row(memory_db, "mirror_invoices", {
        "provider": "stripe", "id": invoice, "subscription": sub, "status": "paid", "currency": "usd",
        "amount_due": 0, "amount_paid": 0, "created": after_renewal + 60, "raw": "{}"})
    for n, line in enumerate(pending):
        add_line(memory_db, invoice, sub, f"il_early_{n}", line.price_id, line.period_start, line.period_end,
                 line.quantity, line.amount, line.proration)
    report = run(memory_db, catalog)
    assert kinds(report) == [], report.differences
    # Not the same line: a different quantity is still unexpected.
    memory_db.execute("UPDATE mirror_invoice_lines SET quantity = quantity + 1 WHERE id = 'il_early_0'")
    assert "unexpected_line" in kinds(run(memory_db, catalog))
