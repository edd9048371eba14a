"""Seat events for an account that was never linked (a typo in the product, a missing ``account.linked``):
seats that nobody bills, a difference of their own kind, valued at the plan's seat price when the ledger
names a plan the catalogue knows."""

from __future__ import annotations

from adapter import ledger, store
from adapter.billing.policy import Catalog
from adapter.reconcile.differences import Difference, seat_unit


def unlinked_differences(db, catalog: Catalog, now_us: int, *, account: str | None = None) -> list[Difference]:
    names = store.recon_never_linked_accounts(db)
    out = []
    for name in names if account is None else [n for n in names if n == account]:
        active = ledger.seat_count(db, name, now_us)
        plan = catalog.plans.get(ledger.plan_at(db, name, now_us) or "")
        if plan is not None:
            seats = plan.billable_seats(active)
            stake, currency = seats * seat_unit(plan, now_us), plan.currency
            priced = f"; {seats} billable on {plan.id}"
        else:
            stake, currency, priced = 0, "", "; no plan known, so no price"
        out.append(Difference(name, "unlinked_seats",
                              f"{active} active seats on an account never linked to a subscription (a typo in "
                              f"the product's account id, or a missing account.linked): nobody bills them{priced}",
                              stake, currency, expected_quantity=active, actual_quantity=None))
    return out
