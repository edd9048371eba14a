"""The expected bill started at a period (reconcile's ``--since``/``--period``) against the walk from the link.

Invariant: for any ledger and any ``since``, every line the provider bills at or after ``since`` (and every
line of a change at or after it) and what is still pending at ``until`` are the same whether the engine
starts at the link or at the checkpoint ``expected_bill(..., since_us=...)`` picks. Checked over random
years of seat changes, plan changes within a family and (where the checkpoint must fall back to the
link) switches between monthly and annual, on each provider's proration style.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.accounts import get_account
from adapter.billing.expected import _checkpoint, expected_bill
from adapter.billing.policy import load_catalog
from adapter.clock import to_us
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.store import open_db
from tests.support.provisioning import REPO_MAPPINGS

CATALOG = load_catalog(REPO_MAPPINGS)
START = datetime(2025, 1, 7, 9, 30, tzinfo=UTC)
DAYS = 400
# Plans a change may move between: one family per provider and proration style, and the interval switch.
FAMILIES = {
    "stripe-second": ("standard-monthly", "premium-monthly"),
    "stripe-second-annual": ("standard-annual", "premium-annual"),
    "stripe-day": ("konfidens-solo-monthly-stripe", "konfidens-pro-monthly-stripe"),
    "chargebee-day": ("konfidens-solo-monthly", "konfidens-pro-monthly"),
    "chargebee-ms": ("standard-monthly-chargebee", "premium-monthly-chargebee"),
    "chargebee-threshold": ("team-annual-chargebee",),
    "switch": ("konfidens-pro-monthly", "konfidens-pro-annual"),
}


@st.composite
def histories(draw):
    family = draw(st.sampled_from(sorted(FAMILIES)))
    plans = FAMILIES[family]
    kinds = st.sampled_from(("add", "add", "remove", "plan"))
    changes = draw(st.lists(st.tuples(st.integers(1, DAYS * 24 * 60), kinds), min_size=5, max_size=40))
    sinces = draw(st.lists(st.integers(0, (DAYS + 20) * 24), min_size=1, max_size=4))
    return family, plans, sorted(changes), sinces


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def build(plans, changes):
    db = open_db(None)
    events = [{"id": "link", "type": "account.linked", "account": "acme", "occurred_at": iso(START),
               "provider": CATALOG.plans[plans[0]].provider, "subscription": "sub_acme", "plan": plans[0]},
              {"id": "snap", "type": "account.seats_snapshot", "account": "acme", "occurred_at": iso(START),
               "users": ["u0", "u1", "u2"]}]
    active, made, plan = ["u0", "u1", "u2"], 3, 0
    for n, (minute, kind) in enumerate(changes):
        at = iso(START + timedelta(minutes=minute))
        if kind == "add":
            user = f"u{made}"
            made += 1
            active.append(user)
            events.append({"id": f"e{n}", "type": "seat.activated", "account": "acme", "occurred_at": at, "user": user})
        elif kind == "remove" and active:
            events.append({"id": f"e{n}", "type": "seat.deactivated", "account": "acme", "occurred_at": at,
                           "user": active.pop(0)})
        elif kind == "plan" and len(plans) > 1:
            plan = 1 - plan
            events.append({"id": f"e{n}", "type": "account.plan_changed", "account": "acme", "occurred_at": at,
                           "plan": plans[plan]})
    record_events(db, parse_document({"events": events}, plans=CATALOG.plans, addons=CATALOG.addons))
    return db


def from_since(bill, since_us):
    """What reconcile can compare in a window from ``since_us``: lines billed then or later, lines of a
    change then or later (a credit issued at the change), and what is pending at the end."""
    return ({line for line in bill.lines if to_us(line.billed_at) >= since_us},
            {line for line in bill.lines if to_us(line.changed_at) >= since_us}, set(bill.pending))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_a_walk_started_at_the_checkpoint_bills_the_window_as_the_walk_from_the_link(history):
    family, plans, changes, sinces = history
    db = build(plans, changes)
    link = get_account(db, "acme")
    until_us = to_us(START + timedelta(days=DAYS + 30))
    whole = expected_bill(db, CATALOG, link, until_us).bill
    for hours in sinces:
        since_us = to_us(START + timedelta(hours=hours))
        part = expected_bill(db, CATALOG, link, until_us, since_us=since_us).bill
        assert from_since(part, since_us) == from_since(whole, since_us), (family, hours)
    db.close()


@pytest.mark.parametrize("family", ["stripe-second", "chargebee-day", "chargebee-ms"])
def test_a_late_window_starts_late_and_walks_less(family):
    """Not a fallback in disguise: for a window late in the year the walk starts at its period."""
    plans = FAMILIES[family]
    db = build(plans, [(minute, "add") for minute in range(60, DAYS * 24 * 60, 7 * 24 * 60)])
    link = get_account(db, "acme")
    since_us = to_us(START + timedelta(days=300))
    period, baseline_us, _ = _checkpoint(db, CATALOG, link, CATALOG.plans[plans[0]], CATALOG.plans[plans[0]].timezone,
                                         since_us)
    assert to_us(period.start) < since_us <= to_us(period.end) and baseline_us == to_us(period.start) - 1
    until_us = to_us(START + timedelta(days=330))  # a month's window, eleven months after the link
    part = expected_bill(db, CATALOG, link, until_us, since_us=since_us).bill
    whole = expected_bill(db, CATALOG, link, until_us).bill
    assert len(part.lines) < len(whole.lines) / 4  # about two periods of eleven
    db.close()


def test_an_interval_switch_before_the_window_walks_from_the_link():
    db = build(FAMILIES["switch"], [(10 * 24 * 60, "plan")])
    link = get_account(db, "acme")
    assert _checkpoint(db, CATALOG, link, CATALOG.plans["konfidens-pro-monthly"], "Europe/Oslo",
                       to_us(START + timedelta(days=200))) is None
    db.close()
