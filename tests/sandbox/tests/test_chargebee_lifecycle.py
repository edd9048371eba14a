"""Chargebee scheduled changes, cancellation, pause, resume and reactivation through chargebee-python.

The ``april`` site (conftest): day mode, UTC, 5 seats at 1000 from Apr 1 (term Apr 1 -> May 1, 30 days),
a good card, so the first invoice (5000) is paid. Amounts are worked by hand from the day-share rule.
"""

from __future__ import annotations

import pytest
from chargebee import InvalidRequestError

from tests.sandbox.chargebee.testing import SEAT, lines, ts


def _renewals(site, sub_id):
    return [inv for inv in site.invoices(sub_id) if inv.recurring and inv.date >= ts(2026, 5, 1)]


def test_an_end_of_term_change_is_scheduled_and_billed_by_the_renewal(april):
    april.price("seat-pro", "plan", 1500)
    result = april.change("sub-acme", [("seat-pro", 5)], prorate=True, invoice_immediately=True,
                          change_option="end_of_term", replace_items_list=True)
    sub = result.subscription
    assert sub.has_scheduled_changes and sub.subscription_items[0].item_price_id == SEAT
    assert result.invoice is None and april.credit_notes("sub-acme") == []
    future = april.cb.Subscription.retrieve_with_scheduled_changes("sub-acme").subscription
    assert [(i.item_price_id, i.quantity) for i in future.subscription_items] == [("seat-pro", 5)]
    april.travel(2026, 5, 1, 12)
    renewal = _renewals(april, "sub-acme")[0]
    assert lines(renewal) == [("seat-pro", 5, 7500)]
    sub = april.cb.Subscription.retrieve("sub-acme").subscription
    assert not sub.has_scheduled_changes and sub.subscription_items[0].item_price_id == "seat-pro"
    assert "subscription_changes_scheduled" in april.event_types()


def test_the_deprecated_end_of_term_flag_schedules_too_and_removal_drops_it(april):
    april.change("sub-acme", [(SEAT, 8)], prorate=None, invoice_immediately=None, end_of_term=True)
    assert april.cb.Subscription.retrieve("sub-acme").subscription.has_scheduled_changes
    removed = april.cb.Subscription.remove_scheduled_changes("sub-acme").subscription
    assert not removed.has_scheduled_changes
    with pytest.raises(InvalidRequestError):
        april.cb.Subscription.retrieve_with_scheduled_changes("sub-acme")
    april.travel(2026, 5, 1, 12)
    assert lines(_renewals(april, "sub-acme")[0]) == [(SEAT, 5, 5000)]
    assert "subscription_scheduled_changes_removed" in april.event_types()


def test_an_immediate_change_deletes_the_scheduled_one(april):
    april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=True, change_option="end_of_term")
    now = april.change("sub-acme", [(SEAT, 6)], prorate=False, invoice_immediately=True).subscription
    assert not now.has_scheduled_changes
    april.travel(2026, 5, 1, 12)
    assert lines(_renewals(april, "sub-acme")[0]) == [(SEAT, 6, 6000)]


def test_cancel_immediately_with_prorated_credit(april):
    april.travel(2026, 4, 16, 9)
    result = april.cb.Subscription.cancel_for_items("sub-acme", {"cancel_option": "immediately",
                                                                  "credit_option_for_current_term_charges": "prorate"})
    assert result.subscription.status == "cancelled" and result.subscription.cancelled_at == ts(2026, 4, 16, 9)
    # Seed 000: cancelled on April 16 → April 16-30 unused = 15/30 of 5 × 1000 = 2500, refundable (paid invoice).
    [note] = result.credit_notes
    assert (note.type, note.total) == ("refundable", 2500)
    with pytest.raises(InvalidRequestError) as refused:
        april.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=True)
    assert refused.value.http_status_code == 409
    april.travel(2026, 5, 2)
    assert _renewals(april, "sub-acme") == []
    react = april.cb.Subscription.reactivate("sub-acme", {"invoice_immediately": True})
    assert react.subscription.status == "active" and lines(react.invoice) == [(SEAT, 5, 5000)]
    assert {"subscription_cancelled", "subscription_reactivated"} <= set(april.event_types())


def test_cancel_at_term_end_stays_non_renewing_then_ends_without_a_renewal(april):
    april.change("sub-acme", [(SEAT, 7)], prorate=True, invoice_immediately=False)
    result = april.cb.Subscription.cancel_for_items("sub-acme", {"end_of_term": True})
    assert result.subscription.status == "non_renewing" and result.subscription.cancelled_at is not None
    april.travel(2026, 5, 2)
    sub = april.cb.Subscription.retrieve("sub-acme").subscription
    assert sub.status == "cancelled"
    assert _renewals(april, "sub-acme") == []
    # The open unbilled charge was invoiced at the cancellation (sandbox reading).
    assert april.unbilled("sub-acme") == []
    assert "subscription_cancellation_scheduled" in april.event_types()


def test_cancel_deleting_unbilled_charges_credits_only_what_was_billed(april):
    april.travel(2026, 4, 11, 9)
    april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)  # +3 seats Apr 11-30 unbilled
    april.travel(2026, 4, 21, 9)
    result = april.cb.Subscription.cancel_for_items("sub-acme", {
        "credit_option_for_current_term_charges": "prorate", "unbilled_charges_option": "delete"})
    # Billed: 5 seats. Unused Apr 21-30 = 10/30 of 5000 = 1666.67 → 1667 (ROUND_HALF_UP).
    assert [n.total for n in result.credit_notes] == [1667]
    assert april.unbilled("sub-acme") == []
    assert "unbilled_charges_deleted" in april.event_types()


def test_pause_and_resume(april):
    april.travel(2026, 4, 10)
    paused = april.cb.Subscription.pause("sub-acme", {"pause_option": "immediately"}).subscription
    assert paused.status == "paused"
    with pytest.raises(InvalidRequestError):
        april.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=True)
    april.travel(2026, 5, 5)
    assert _renewals(april, "sub-acme") == []
    resumed = april.cb.Subscription.resume("sub-acme", {"resume_option": "immediately"})
    assert resumed.subscription.status == "active"
    assert resumed.subscription.current_term_start == ts(2026, 5, 5)
    assert lines(resumed.invoice) == [(SEAT, 5, 5000)]
    assert {"subscription_paused", "subscription_resumed"} <= set(april.event_types())


def test_a_scheduled_pause_with_a_resume_date_runs_on_the_clock(april):
    scheduled = april.cb.Subscription.pause("sub-acme", {"pause_option": "end_of_term",
                                                         "resume_date": ts(2026, 6, 1)}).subscription
    assert scheduled.status == "active"
    april.travel(2026, 5, 15)
    assert april.cb.Subscription.retrieve("sub-acme").subscription.status == "paused"
    assert _renewals(april, "sub-acme") == []
    april.travel(2026, 6, 2)
    sub = april.cb.Subscription.retrieve("sub-acme").subscription
    assert sub.status == "active" and sub.current_term_start == ts(2026, 6, 1)
    assert "subscription_pause_scheduled" in april.event_types()


def test_options_the_sandbox_does_not_model_are_refused(april):
    for call, params, param in (
            (april.cb.Subscription.cancel_for_items, {"cancel_option": "end_of_billing_term"}, "cancel_option"),
            (april.cb.Subscription.cancel_for_items, {"credit_option_for_current_term_charges": "consumption_based"},
             "credit_option_for_current_term_charges"),
            (april.cb.Subscription.pause, {"pause_option": "billing_cycles"}, "pause_option"),
            (april.cb.Subscription.pause, {"skip_billing_cycles": 2}, "skip_billing_cycles")):
        with pytest.raises(InvalidRequestError) as info:
            call("sub-acme", params)
        assert info.value.param == param
    assert april.cb.Subscription.retrieve("sub-acme").subscription.status == "active"


def test_every_event_sent_is_a_type_chargebee_python_declares(april):
    from chargebee.models.enums import EventType

    april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False, change_option="end_of_term")
    april.cb.Subscription.remove_scheduled_changes("sub-acme")
    april.cb.Subscription.pause("sub-acme", {"pause_option": "end_of_term"})
    april.travel(2026, 5, 2)
    april.cb.Subscription.resume("sub-acme", {"resume_option": "specific_date", "resume_date": ts(2026, 5, 9)})
    april.travel(2026, 5, 10)
    april.cb.Subscription.cancel_for_items("sub-acme", {"cancel_option": "end_of_term"})
    april.travel(2026, 6, 12)
    april.cb.Subscription.reactivate("sub-acme", {})
    sent = set(april.event_types())
    assert {"subscription_pause_scheduled", "subscription_resumption_scheduled", "subscription_cancelled",
            "subscription_reactivated"} <= sent
    assert sent <= {e.value for e in EventType}
