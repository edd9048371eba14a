"""Seat events for an account that was never linked are a difference of their own kind (issue 11 item 4):
seats nobody bills, valued at the plan's seat price when the ledger names a plan."""

from __future__ import annotations

from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from tests.reconcile.test_report import APRIL_1, APRIL_16, account, catalog, iso, kinds, run

__all__ = ["catalog"]


def send(db, catalog, *events):
    record_events(db, parse_document({"events": list(events)}, plans=catalog.plans, addons=catalog.addons))


def test_seats_of_an_account_never_linked_are_listed_with_their_value(memory_db, catalog):
    account(memory_db, catalog)  # a clean linked account beside them
    # A typo in the product's account id: three seats, no plan known.
    send(memory_db, catalog, *[{"id": f"typo-{u}", "type": "seat.activated", "account": "acme-typo",
                                "occurred_at": iso(APRIL_16), "user": u} for u in "abc"])
    # A missing account.linked: two seats, and the product did say the plan.
    send(memory_db, catalog,
         {"id": "lost-plan", "type": "account.plan_changed", "account": "lost", "occurred_at": iso(APRIL_1),
          "plan": "standard-monthly"},
         *[{"id": f"lost-{u}", "type": "seat.activated", "account": "lost", "occurred_at": iso(APRIL_16),
            "user": u} for u in "ab"])
    report = run(memory_db, catalog)
    assert kinds(report) == ["unlinked_seats", "unlinked_seats"]
    typo, lost = sorted(report.differences, key=lambda d: d.account)
    assert (typo.account, typo.expected_quantity, typo.money_at_stake, typo.currency) == ("acme-typo", 3, 0, "")
    plan = catalog.plans["standard-monthly"]
    unit = plan.seat.unit_amount
    assert (lost.account, lost.expected_quantity) == ("lost", 2)
    assert lost.money_at_stake == plan.billable_seats(2) * unit and lost.currency == plan.currency
    assert report.accounts == 1  # the linked one; the unlinked are differences, not checked accounts
    # One of them alone, by name (it is not "unknown": its seats are in the ledger).
    assert [d.account for d in run(memory_db, catalog, account="lost").differences] == ["lost"]
