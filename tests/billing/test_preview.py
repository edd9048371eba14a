"""adapter.billing.preview.account_period: the ledger's history as engine inputs (what reconciliation needs too)."""

from __future__ import annotations

import datetime as dt

import pytest

from adapter import accounts, ledger
from adapter.billing.engine import invoices
from adapter.billing.policy import load_catalog
from adapter.billing.preview import PreviewError, account_period
from adapter.clock import parse_instant
from adapter.intake.parse import parse_document
from tests.conftest import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "mappings")
UTC = dt.UTC


def event(id, kind, user, when, account="acme"):
    return {"id": id, "type": kind, "account": account, "user": user, "occurred_at": when}


def test_account_period_turns_per_user_changes_into_seat_points(memory_db):
    accounts.link(memory_db, "acme", provider="stripe", subscription="sub_1", plan="standard-monthly",
                  timezone=None, plans=CATALOG.plans, addons=CATALOG.addons,
                  at_us=parse_instant("2026-03-01T00:00:00Z"))
    events = [event(f"a{n}", "seat.activated", f"u{n}", "2026-03-01T00:00:00Z") for n in range(10)]
    events += [event("b1", "seat.activated", "v1", "2026-04-16T00:00:00Z"),
               event("b2", "seat.activated", "v2", "2026-04-16T00:00:00Z"),
               event("c1", "seat.deactivated", "u0", "2026-04-21T00:00:00Z"),
               event("d1", "seat.activated", "late", "2026-05-03T00:00:00Z")]
    ledger.record_events(memory_db, parse_document({"events": events}, plans=CATALOG.plans, addons=CATALOG.addons))

    context = account_period(memory_db, CATALOG, "acme", at_us=parse_instant("2026-04-30T23:59:59Z"))
    assert (context.period.start, context.period.end) == (dt.datetime(2026, 4, 1, tzinfo=UTC),
                                                          dt.datetime(2026, 5, 1, tzinfo=UTC))
    assert context.seats_at_start == 10
    assert context.seat_changes == ((dt.datetime(2026, 4, 16, tzinfo=UTC), 12),
                                    (dt.datetime(2026, 4, 21, tzinfo=UTC), 11))
    # Apr 16 (1/2 left) 10 → 12: −2500 + 3000; Apr 21 (1/3 left) 12 → 11: −2000 + 11 × 500 / 3 = 1833.33 → 1833.
    # May 1 invoice: 500 + (−167) + renewal 1000 + 11 × 500 = 6833.
    (invoice,) = invoices(context.bill(CATALOG).lines)
    assert [line.amount for line in invoice.lines if line.proration] == [-2500, 3000, -2000, 1833]
    assert invoice.total == 6833

    with pytest.raises(PreviewError, match="unknown account 'nobody'"):
        account_period(memory_db, CATALOG, "nobody", at_us=parse_instant("2026-04-30T00:00:00Z"))
    with pytest.raises(PreviewError, match="before the billing anchor"):
        account_period(memory_db, CATALOG, "acme", at_us=parse_instant("2026-02-01T00:00:00Z"))


def test_in_the_first_period_the_seats_at_the_link_instant_are_the_baseline(memory_db):
    """The product links the account and sends its snapshot at the same instant: the provider's first
    invoice billed those seats, so a preview must not bill them again as a change from zero."""
    linked = parse_instant("2026-03-01T09:00:00Z")
    accounts.link(memory_db, "acme", provider="stripe", subscription="sub_1", plan="standard-monthly",
                  timezone=None, plans=CATALOG.plans, addons=CATALOG.addons, at_us=linked)
    ledger.record_events(memory_db, parse_document({"events": [
        {"id": "snap", "type": "account.seats_snapshot", "account": "acme", "occurred_at": "2026-03-01T09:00:00Z",
         "users": [f"u{n}" for n in range(10)]}]}, plans=CATALOG.plans, addons=CATALOG.addons))

    context = account_period(memory_db, CATALOG, "acme", at_us=parse_instant("2026-03-16T21:00:00Z"))
    assert (context.seats_at_start, context.seat_changes) == (10, ())
    (invoice,) = invoices(context.bill(CATALOG).lines)
    # The April 1 09:00 renewal: base fee 1000 + 10 x 500, and no proration at all.
    assert [line.proration for line in invoice.lines] == [False, False]
    assert invoice.total == 6000


def test_a_day_based_first_period_starts_at_midnight_but_its_baseline_is_the_link_instant(memory_db):
    """Konfidens (Chargebee, day proration in Oslo): the first term starts at local midnight, hours before
    the link; the seats of the snapshot sent with the link are still the baseline, not a change from 0."""
    accounts.link(memory_db, "clinic", provider="chargebee", subscription="sub_1", plan="konfidens-solo-monthly",
                  timezone=None, plans=CATALOG.plans, addons=CATALOG.addons,
                  at_us=parse_instant("2026-04-01T09:00:00+02:00"))
    ledger.record_events(memory_db, parse_document({"events": [
        {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
         "occurred_at": "2026-04-01T09:00:00+02:00", "users": ["a", "b", "c"]}]},
        plans=CATALOG.plans, addons=CATALOG.addons))

    context = account_period(memory_db, CATALOG, "clinic", at_us=parse_instant("2026-04-10T12:00:00+02:00"))
    assert context.period.start < dt.datetime(2026, 4, 1, 7, tzinfo=UTC)  # local midnight, before the link
    assert (context.seats_at_start, context.seat_changes) == (3, ())
    (invoice,) = invoices(context.bill(CATALOG).lines)
    assert not any(line.proration for line in invoice.lines)
