"""Credit notes for a change's credits: adjustment while the term invoice is unpaid, else refundable
(reference chargebee.md §2a, §2c)."""

from __future__ import annotations

from .events import record
from .invoices import settle_if_covered, touch_invoice
from ..state import ChargebeeState


def _new_credit_note(state: ChargebeeState, sub: dict, lines: list[dict], amount: int, cn_type: str,
                     reference: dict | None) -> dict:
    cn = {"id": state.next_id("credit_note"), "customer_id": sub["customer_id"], "subscription_id": sub["id"],
          "type": cn_type, "reason_code": "subscription_change", "create_reason_code": "Subscription Change",
          "status": "adjusted" if cn_type == "adjustment" else "refund_due", "date": state.now,
          "generated_at": state.now, "price_type": "tax_exclusive", "currency_code": sub["currency_code"],
          "total": amount, "sub_total": amount, "amount_allocated": amount if cn_type == "adjustment" else 0,
          "amount_refunded": 0, "amount_available": 0 if cn_type == "adjustment" else amount,
          "round_off_amount": 0, "fractional_correction": 0, "channel": "web", "deleted": False,
          "object": "credit_note", "line_items": lines, "allocations": [], "linked_refunds": []}
    if reference is not None:
        cn["reference_invoice_id"] = reference["id"]
    state.touch(cn)
    state.credit_notes[cn["id"]] = cn
    return cn


def _split_lines(state: ChargebeeState, lines: list[dict], first_amount: int) -> tuple[list[dict], list[dict]]:
    """Lines worth ``first_amount`` (in order, a line split at the boundary) and the rest."""
    first, rest, left = [], [], first_amount
    for line in lines:
        take = min(left, line["amount"])
        left -= take
        if take:
            first.append({**line, "id": state.next_id("li"), "amount": take})
        if line["amount"] - take:
            rest.append({**line, "id": state.next_id("li"), "amount": line["amount"] - take})
    return first, rest


def issue_credits(state: ChargebeeState, sub: dict, credit_lines: list[dict]) -> list[dict]:
    """Credit notes for the unused period: adjustment while the term invoice is unpaid, else refundable.

    A credit larger than what the unpaid invoice still owes is split: the
    adjustment note covers the amount due, a refundable note the rest
    (sandbox rule; how Chargebee splits such a credit is unverified).
    """
    total = sum(line["amount"] for line in credit_lines)
    if total == 0:
        return []
    term_invoice = state.invoices.get(sub.get("_term_invoice_id") or "")
    adjustable = term_invoice["amount_due"] if term_invoice and term_invoice["status"] in (
        "payment_due", "not_paid", "posted") else 0
    adjustment = min(adjustable, total)
    adjustment_lines, refundable_lines = (_split_lines(state, credit_lines, adjustment)
                                          if 0 < adjustment < total else
                                          (credit_lines, []) if adjustment else ([], credit_lines))
    notes = []
    if adjustment:
        cn = _new_credit_note(state, sub, adjustment_lines, adjustment, "adjustment", term_invoice)
        summary = {"cn_id": cn["id"], "cn_reason_code": cn["reason_code"],
                   "cn_create_reason_code": cn["create_reason_code"], "cn_date": cn["date"],
                   "cn_total": adjustment, "cn_status": cn["status"]}
        term_invoice["amount_adjusted"] += adjustment
        term_invoice["amount_due"] -= adjustment
        term_invoice["adjustment_credit_notes"].append(dict(summary))
        term_invoice["issued_credit_notes"].append(dict(summary))
        cn["allocations"].append({"invoice_id": term_invoice["id"], "allocated_amount": adjustment,
                                  "allocated_at": state.now, "invoice_date": term_invoice["date"],
                                  "invoice_status": term_invoice["status"]})
        settle_if_covered(state, term_invoice)
        touch_invoice(state, term_invoice)
        notes.append(cn)
        record(state, "credit_note_created", {"credit_note": cn})
        record(state, "invoice_updated", {"invoice": term_invoice})
    if total - adjustment:
        cn = _new_credit_note(state, sub, refundable_lines, total - adjustment, "refundable", term_invoice)
        notes.append(cn)
        record(state, "credit_note_created", {"credit_note": cn})
    return notes
