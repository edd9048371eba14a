"""Reading back what the sandbox billed, and the engine's prediction, as comparable line sets
(tests/e2e/test_sync_matrix.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapter.billing.engine import Bill, invoices


def ts(at: datetime) -> int:
    return int(at.timestamp())


def engine_lines(bill: Bill) -> Counter:
    """(billed at | "pending", price, period start, period end, quantity, amount) per engine line."""
    lines = Counter()
    for line in bill.lines:
        lines[(ts(line.billed_at), line.price_id, ts(line.period_start), ts(line.period_end), line.quantity,
               line.amount)] += 1
    for line in bill.pending:
        lines[("pending", line.price_id, ts(line.period_start), ts(line.period_end), line.quantity,
               line.amount)] += 1
    return lines


def stripe_lines(harness: Any) -> Counter:
    """The same tuples from the sandbox: every invoice but the subscription's first, then pending items."""
    client = harness.client
    lines = Counter()
    for invoice in client.v1.invoices.list({"customer": harness.customer, "limit": 100}).auto_paging_iter():
        data = invoice.to_dict()
        if data["billing_reason"] == "subscription_create":
            continue
        for line in data["lines"]["data"]:
            lines[(int(data["created"]), line["pricing"]["price_details"]["price"], int(line["period"]["start"]),
                   int(line["period"]["end"]), int(line["quantity"]), int(line["amount"]))] += 1
    for item in client.v1.invoice_items.list({"customer": harness.customer, "pending": True,
                                              "limit": 100}).auto_paging_iter():
        data = item.to_dict()
        lines[("pending", data["pricing"]["price_details"]["price"], int(data["period"]["start"]),
               int(data["period"]["end"]), int(data["quantity"]), int(data["amount"]))] += 1
    return lines


def match_lines(actual: Counter, predicted: Counter, *, tolerance: int = 0) -> tuple[list, list]:
    """Pair lines equal in everything but amount, amounts within ``tolerance``; return the leftovers."""
    actual, predicted = Counter(actual), Counter(predicted)
    exact = actual & predicted
    actual -= exact
    predicted -= exact
    if tolerance:
        for line in list(predicted.elements()):
            for other in list(actual.elements()):
                if other[:-1] == line[:-1] and abs(other[-1] - line[-1]) <= tolerance:
                    actual[other] -= 1
                    predicted[line] -= 1
                    actual, predicted = +actual, +predicted
                    break
    return sorted(actual.elements(), key=str), sorted(predicted.elements(), key=str)


@dataclass
class ChargebeeMoney:
    invoices: list[dict]  # date, total, credits_applied, amount_paid, amount_due, lines
    credit_notes: list[dict]
    unbilled: list[dict]


def chargebee_all(list_page: Any, params: dict, key: str) -> list[dict]:
    """Every entry of a Chargebee list, following ``next_offset`` (one page holds at most 100)."""
    found: list[dict] = []
    offset = None
    while True:
        page = list_page({**params, "limit": 100, **({"offset": offset} if offset else {})})
        found.extend(dict(getattr(entry, key).raw_data) for entry in page.list)
        offset = page.next_offset
        if not offset:
            return found


def chargebee_money(harness: Any) -> ChargebeeMoney:
    cb, sub = harness.client, harness.subscription
    dated = {"subscription_id": {"is": sub}, "sort_by": {"asc": "date"}}
    invoices_ = [i for i in chargebee_all(cb.Invoice.list, dated, "invoice") if not i.get("first_invoice")]
    credit_notes = chargebee_all(cb.CreditNote.list, dated, "credit_note")
    unbilled = chargebee_all(cb.UnbilledCharge.list, {"subscription_id": {"is": sub}}, "unbilled_charge")
    return ChargebeeMoney(invoices_, credit_notes, [u for u in unbilled if not u.get("is_voided")])


def chargebee_by_price(money: ChargebeeMoney) -> Counter:
    """Signed money per item price: invoiced + still unbilled − credited."""
    total = Counter()
    for invoice in money.invoices:
        for line in invoice["line_items"]:
            total[line["entity_id"]] += int(line["amount"])
    for charge in money.unbilled:
        total[charge["entity_id"]] += int(charge["amount"])
    for note in money.credit_notes:
        for line in note["line_items"]:
            total[line["entity_id"]] -= int(line["amount"])
    return Counter({k: v for k, v in total.items() if v})


def engine_by_price(bill: Bill) -> tuple[Counter, Counter]:
    """Signed money per price over every line (billed and pending), and the number of proration lines."""
    total, prorations = Counter(), Counter()
    for line in (*bill.lines, *bill.pending):
        total[line.price_id] += line.amount
        if line.proration:
            prorations[line.price_id] += 1
    return Counter({k: v for k, v in total.items() if v}), prorations


def engine_invoices(bill: Bill) -> list:
    return invoices(bill.lines)


def chargebee_full_term_lines(money: ChargebeeMoney) -> Counter:
    """(invoice date, price, quantity, amount) for lines that bill a whole term (renewals, term resets)."""
    lines = Counter()
    for invoice in money.invoices:
        for line in invoice["line_items"]:
            # A term reset in day-based mode starts the term at local midnight, before the invoice.
            if int(line["amount"]) == int(line["unit_amount"]) * int(line["quantity"]) and \
                    int(invoice["date"]) - 86400 < int(line["date_from"]) <= int(invoice["date"]):
                lines[(int(invoice["date"]), line["entity_id"], int(line["quantity"]), int(line["amount"]))] += 1
    return lines


def engine_full_term_lines(bill: Bill) -> Counter:
    lines = Counter()
    for line in bill.lines:
        if not line.proration:
            lines[(ts(line.billed_at), line.price_id, line.quantity, line.amount)] += 1
    return lines
