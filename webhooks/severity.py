"""How loudly the ops pages show each difference kind (issue 14 item 5): four colours, one meaning each.

- ``receivable``: money the customer owes on an invoice (unpaid): collect it, the bill itself is right;
- ``drift``: the provider's seats are not the ledger's (or nobody bills them): fix the quantity first, the
  invoice lines after it follow from it;
- ``missing``: something the policy bills was not billed: revenue left out;
- ``unexpected``: something was billed that the policy does not explain, or at the wrong amount or time.
"""

from __future__ import annotations

SEVERITY: dict[str, str] = {
    "invoice_unpaid": "receivable",
    "seat_drift": "drift", "never_synced": "drift", "unlinked_seats": "drift",
    "missing_proration": "missing", "invoice_missing": "missing", "threshold_not_invoiced": "missing",
    "credit_not_applied": "missing", "price_change_not_applied": "missing",
    "unexpected_line": "unexpected", "wrong_amount": "unexpected", "wrong_proration": "unexpected",
    "duplicated_proration": "unexpected", "wrong_quantity_at_renewal": "unexpected",
    "late_change": "unexpected", "shifted_change": "unexpected",
}


def severity(kind: str) -> str:
    return SEVERITY.get(kind, "unexpected")
