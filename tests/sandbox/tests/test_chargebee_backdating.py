"""Chargebee sandbox: backdated changes (``change_option=specific_date`` with a past
``changes_scheduled_at``), through chargebee-python.

Money is checked against Fractions computed here from the documented proration rule (reference
chargebee.md §3: charge/credit = quantity × price × remaining part of the term; millisecond mode
remaining ms ÷ term ms, day mode remaining days ÷ term days counting the day of the change),
rounded once per line half-up (the sandbox's named rule), never against seatsync.
"""

from __future__ import annotations

from fractions import Fraction

import httpx
import pytest
from chargebee import InvalidRequestError

from tests.sandbox.chargebee.testing import SEAT, Site, lines, ts


def half_up(exact: Fraction) -> int:
    """ROUND_HALF_UP on the magnitude (the sandbox's default ``rounding``)."""
    return int((abs(exact) * 2 + 1) // 2) * (1 if exact >= 0 else -1)


def backdate(site: Site, sub: str, items, when: tuple, *, invoice_immediately: bool = True):
    return site.change(sub, items, prorate=True, invoice_immediately=invoice_immediately,
                       change_option="specific_date", changes_scheduled_at=ts(*when))


@pytest.fixture
def day_site(april) -> Site:
    """Day mode, term Apr 1 -> May 1 (30 days), 5 seats at 1000, backdating on, now Apr 21 10:00."""
    april.settings(backdating_enabled=True)
    april.travel(2026, 4, 21, 10)
    return april


@pytest.fixture
def ms_site(site) -> Site:
    """Millisecond mode, term Apr 1 09:00 -> May 1 09:00, 5 seats at 1000, backdating on, now Apr 21 10:00."""
    site.settings(billing_mode="millisecond", backdating_enabled=True)
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    site.customer("acme")
    site.subscribe("acme", "sub-acme", [(SEAT, 5)])
    site.travel(2026, 4, 21, 10)
    return site


def test_day_mode_backdated_increase_is_prorated_from_the_start_of_the_backdated_day(day_site):
    r = backdate(day_site, "sub-acme", [(SEAT, 8)], (2026, 4, 11, 14))
    # Apr 11 (the day of the change counts) .. Apr 30: 20 of 30 days for 3 more seats.
    exact = Fraction(3 * 1000 * 20, 30)
    [line] = r.invoice.line_items
    assert (r.invoice.total, line.quantity, line.amount) == (half_up(exact), 3, 2000)
    assert (line.date_from, line.date_to) == (ts(2026, 4, 11), ts(2026, 4, 30, 23, 59, 59))
    assert (r.invoice.date, r.invoice.status) == (ts(2026, 4, 21, 10), "paid")  # the document is dated now
    assert r.subscription.subscription_items[0].quantity == 8
    types = day_site.event_types(after=ts(2026, 4, 21, 9))
    assert "subscription_changed_with_backdating" in types and "subscription_changed" not in types
    event = day_site.cb.Event.list({"event_type": {"is": "subscription_changed_with_backdating"}}).list[0].event
    assert (event.occurred_at, event.content["invoice"]["total"]) == (ts(2026, 4, 21, 10), 2000)
    assert event.content["subscription"]["subscription_items"][0]["quantity"] == 8


def test_day_mode_backdated_decrease_credits_from_the_backdated_day(day_site):
    r = backdate(day_site, "sub-acme", [(SEAT, 3)], (2026, 4, 16, 8))
    # Apr 16 .. Apr 30: 15 of 30 days for 2 fewer seats; the term invoice is paid, so refundable.
    exact = Fraction(2 * 1000 * 15, 30)
    [note] = r.credit_notes
    assert (note.type, note.total, note.date) == ("refundable", half_up(exact), ts(2026, 4, 21, 10))
    assert [(li.quantity, li.amount, li.date_from) for li in note.line_items] == [(2, 1000, ts(2026, 4, 16))]
    assert r.invoice is None


def test_a_backdated_change_into_unbilled_charges_is_dated_from_the_backdated_day(day_site):
    r = backdate(day_site, "sub-acme", [(SEAT, 8)], (2026, 4, 11, 14), invoice_immediately=False)
    [charge] = r.unbilled_charges
    assert (charge.amount, charge.date_from, charge.created_at) == (2000, ts(2026, 4, 11), ts(2026, 4, 21, 10))


def test_millisecond_mode_backdated_increase_and_decrease(ms_site):
    term = ts(2026, 5, 1, 9) - ts(2026, 4, 1, 9)
    up = backdate(ms_site, "sub-acme", [(SEAT, 8)], (2026, 4, 11, 14))
    up_exact = Fraction(3 * 1000 * (ts(2026, 5, 1, 9) - ts(2026, 4, 11, 14)), term)  # 1979.17
    assert (up.invoice.total, up.invoice.line_items[0].date_from) == (half_up(up_exact), ts(2026, 4, 11, 14))
    assert up.invoice.total == 1979

    down = backdate(ms_site, "sub-acme", [(SEAT, 2)], (2026, 4, 16, 8, 30))
    # 8 -> 2 from Apr 16 08:30: 6 seats credited for the rest of the term (the charge above was
    # invoiced, so there is nothing pending to revise).
    down_exact = Fraction(6 * 1000 * (ts(2026, 5, 1, 9) - ts(2026, 4, 16, 8, 30)), term)  # 3004.17
    [note] = down.credit_notes
    assert (note.total, note.line_items[0].date_from, note.date) == \
        (half_up(down_exact), ts(2026, 4, 16, 8, 30), ts(2026, 4, 21, 10))
    assert note.total == 3004


def test_a_backdated_estimate_changes_nothing(day_site):
    estimate = day_site.cb.Estimate.update_subscription_for_items(
        {"subscription": {"id": "sub-acme"}, "subscription_items": [{"item_price_id": SEAT, "quantity": 8}],
         "prorate": True, "invoice_immediately": True, "change_option": "specific_date",
         "changes_scheduled_at": ts(2026, 4, 11, 14)}).estimate
    assert (estimate.invoice_estimate.total, estimate.invoice_estimate.line_items[0].date_from) == \
        (2000, ts(2026, 4, 11))
    assert day_site.cb.Subscription.retrieve("sub-acme").subscription.subscription_items[0].quantity == 5


def test_immediately_behaves_exactly_as_without_change_option(site):
    site.settings(billing_mode="day", backdating_enabled=True)
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    for name in ("a", "b"):
        site.customer(name)
        site.subscribe(name, f"sub-{name}", [(SEAT, 5)])
    site.travel(2026, 4, 11, 14)
    plain = site.change("sub-a", [(SEAT, 8)], prorate=True, invoice_immediately=True)
    explicit = site.change("sub-b", [(SEAT, 8)], prorate=True, invoice_immediately=True, change_option="immediately")
    site.travel(2026, 4, 21, 8)
    plain_down = site.change("sub-a", [(SEAT, 6)], prorate=True, invoice_immediately=False)
    explicit_down = site.change("sub-b", [(SEAT, 6)], prorate=True, invoice_immediately=False,
                                change_option="immediately")

    def shape(r):
        docs = ([r.invoice] if r.invoice else []) + list(r.credit_notes or [])
        return ([(d.total, d.date, [(li.entity_id, li.quantity, li.amount, li.date_from, li.date_to)
                                    for li in d.line_items]) for d in docs],
                [(uc.amount, uc.date_from, uc.date_to) for uc in r.unbilled_charges or []])
    assert shape(plain) == shape(explicit) and shape(plain_down) == shape(explicit_down)
    assert lines(plain.invoice) == [(SEAT, 3, 2000)]
    events = [e.event for e in site.cb.Event.list({"limit": 100, "sort_by": {"asc": "occurred_at"}}).list]
    per_sub = {s: [e.event_type for e in events if (e.content.get("subscription") or {}).get("id") == s]
               for s in ("sub-a", "sub-b")}
    assert per_sub["sub-a"] == per_sub["sub-b"] and "subscription_changed_with_backdating" not in per_sub["sub-a"]


# refusals ------------------------------------------------------------------------------------------


def refused(site: Site, code: str, says: str = "", **params) -> InvalidRequestError:
    before = site.cb.Subscription.retrieve("sub-acme").subscription
    with pytest.raises(InvalidRequestError) as caught:
        site.change("sub-acme", [(SEAT, 7)], prorate=True, invoice_immediately=True, **params)
    assert (caught.value.http_status_code, caught.value.api_error_code, caught.value.param) == \
        (400, code, "changes_scheduled_at")
    assert says in str(caught.value)
    after = site.cb.Subscription.retrieve("sub-acme").subscription
    assert after.resource_version == before.resource_version
    assert after.subscription_items[0].quantity == before.subscription_items[0].quantity
    return caught.value


def test_changes_scheduled_at_goes_with_specific_date_and_only_with_it(day_site):
    assert refused(day_site, "invalid_request", "cannot be blank", change_option="specific_date").error_code == \
        "param_required"
    refused(day_site, "param_wrong_value", "specific_date", change_option="immediately",
            changes_scheduled_at=ts(2026, 4, 11))
    refused(day_site, "param_wrong_value", "specific_date", changes_scheduled_at=ts(2026, 4, 11))


def test_future_dates_are_refused_because_ramps_are_not_modelled(day_site):
    refused(day_site, "param_wrong_value", "in the future", change_option="specific_date",
            changes_scheduled_at=ts(2026, 4, 21, 10, 0, 1))
    assert backdate(day_site, "sub-acme", [(SEAT, 6)], (2026, 4, 21, 10)).invoice.total == 333  # now is not future


def test_backdating_needs_the_site_setting(april):
    april.travel(2026, 4, 21, 10)
    refused(april, "configuration_incompatible", "not enabled", change_option="specific_date",
            changes_scheduled_at=ts(2026, 4, 11))


def test_backdating_needs_an_active_cancelled_or_non_renewing_subscription(day_site):
    day_site.control("subscriptions/sub-acme/status", {"status": "in_trial"})
    refused(day_site, "invalid_request", "in_trial", change_option="specific_date",
            changes_scheduled_at=ts(2026, 4, 11))
    assert day_site.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=True).invoice.total == 333
    day_site.control("subscriptions/sub-acme/status", {"status": "non_renewing"})
    assert backdate(day_site, "sub-acme", [(SEAT, 7)], (2026, 4, 21)).invoice.total == 333


def test_backdating_stays_in_the_current_term(day_site):
    day_site.travel(2026, 5, 3, 10)  # renewed: the term is May 1 -> Jun 1
    refused(day_site, "param_wrong_value", "current term start", change_option="specific_date",
            changes_scheduled_at=ts(2026, 4, 30, 12))
    # From the term start on: May 1 .. May 31, 31 of 31 days for 2 more seats.
    assert backdate(day_site, "sub-acme", [(SEAT, 7)], (2026, 5, 1)).invoice.total == half_up(Fraction(2000 * 31, 31))


def test_backdating_cannot_precede_the_last_item_change(day_site):
    day_site.travel(2026, 4, 23, 10)
    day_site.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=True)  # effective Apr 23 00:00
    refused(day_site, "param_wrong_value", "last change", change_option="specific_date",
            changes_scheduled_at=ts(2026, 4, 22, 23))
    # The same instant is allowed (day mode: Apr 23 08:00 takes effect at Apr 23 00:00, like the change).
    # Apr 23 .. Apr 30: 8 of 30 days for 1 more seat.
    assert backdate(day_site, "sub-acme", [(SEAT, 7)], (2026, 4, 23, 8)).invoice.total == \
        half_up(Fraction(1000 * 8, 30))


def test_a_backdated_change_becomes_the_last_item_change(ms_site):
    backdate(ms_site, "sub-acme", [(SEAT, 6)], (2026, 4, 15, 12))
    ms_site.cb.Subscription.update_for_items("sub-acme", {"meta_data": "{\"k\": 1}"})  # not an item change
    refused(ms_site, "param_wrong_value", "last change", change_option="specific_date",
            changes_scheduled_at=ts(2026, 4, 15, 11, 59, 59))
    assert backdate(ms_site, "sub-acme", [(SEAT, 7)], (2026, 4, 15, 12)).invoice.line_items[0].date_from == \
        ts(2026, 4, 15, 12)


def test_the_day_of_month_limit_bounds_backdating_into_an_earlier_month(site):
    site.settings(billing_mode="day", backdating_enabled=True, backdating_limit_day=5)
    site.start(2026, 4, 15, 9)
    site.price(SEAT, "plan", 1000)
    site.customer("acme")
    site.subscribe("acme", "sub-acme", [(SEAT, 5)])  # term Apr 15 -> May 15 (30 days)
    site.travel(2026, 5, 4, 10)  # day 4 <= 5: April is still open
    assert backdate(site, "sub-acme", [(SEAT, 6)], (2026, 4, 20)).invoice.total == half_up(Fraction(1000 * 25, 30))
    site.travel(2026, 5, 7, 10)  # day 7 > 5: April is closed, May is not
    refused(site, "param_wrong_value", "day 5", change_option="specific_date", changes_scheduled_at=ts(2026, 4, 25))
    assert backdate(site, "sub-acme", [(SEAT, 7)], (2026, 5, 2)).invoice.total == half_up(Fraction(1000 * 13, 30))


def test_a_backdated_change_of_billing_period_is_refused_as_not_modelled(day_site):
    day_site.price("seat-USD-yearly", "plan", 10000, period=1, unit="year")
    with pytest.raises(InvalidRequestError) as caught:
        day_site.change("sub-acme", [("seat-USD-yearly", 5)], prorate=True, invoice_immediately=True,
                        replace_items_list=True, change_option="specific_date", changes_scheduled_at=ts(2026, 4, 11))
    assert (caught.value.api_error_code, caught.value.param) == ("param_wrong_value", "changes_scheduled_at")


def test_site_settings_for_backdating_are_validated(site):
    defaults = site.control("settings", method="get")
    assert (defaults["backdating_enabled"], defaults["backdating_limit_day"]) == (False, None)
    for bad in ({"backdating_enabled": "yes"}, {"backdating_limit_day": 0}, {"backdating_limit_day": 32},
                {"backdating_limit_day": True}):
        response = httpx.post(f"{site.sandbox.url}/_sandbox/chargebee/settings", json=bad, timeout=10)
        assert response.status_code == 400 and response.json()["error"]["field"] == next(iter(bad))
    assert site.settings(backdating_limit_day=28, backdating_enabled=True)["backdating_limit_day"] == 28
    assert site.settings(backdating_limit_day=None)["backdating_limit_day"] is None
