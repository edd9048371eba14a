"""Stripe subscription schedules, cancellation and paused collection, through stripe-python.

Expected amounts are worked by hand from the per-second proration rule (reference stripe.md §1):
a 30-day September 2020 period is 2,592,000 s.
"""

from __future__ import annotations

import pytest
import stripe

from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

DAY = 86400
SEP_1_2020 = 1598918400
OCT_1_2020 = 1601510400
NOV_1_2020 = 1604188800
DEC_1_2020 = 1606780800


def _subscribe(client, quantity=5, unit=1000):
    price = stripe_price(client, "Seat", unit)
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id,
                                                                              "quantity": quantity}]})
    return clock, customer, sub, price


def _event_types(client, since_id=None):
    return [e.type for e in reversed(client.v1.events.list({"limit": 100}).data)]


def _cycle_invoices(client, customer_id):
    return [inv for inv in client.v1.invoices.list({"customer": customer_id, "limit": 100}).data
            if inv.billing_reason == "subscription_cycle"]


# ------------------------------------------------------------------ schedules


def test_a_schedule_moves_the_subscription_to_a_new_price_at_the_next_renewal(stripe_client):
    clock, customer, sub, _price = _subscribe(stripe_client)
    new_price = stripe_price(stripe_client, "Seat v2", 1500)
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    assert schedule.status == "active" and schedule.subscription == sub.id
    assert schedule.end_behavior == "release"
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [(SEP_1_2020, OCT_1_2020)]
    assert [(i.price, i.quantity) for i in schedule.phases[0].items] == [(_price.id, 5)]
    assert stripe_client.v1.subscriptions.retrieve(sub.id).schedule == schedule.id

    schedule = stripe_client.v1.subscription_schedules.update(schedule.id, {"phases": [
        {"items": [{"price": _price.id, "quantity": 5}], "start_date": SEP_1_2020, "end_date": OCT_1_2020},
        {"items": [{"price": new_price.id, "quantity": 5}], "end_date": NOV_1_2020, "proration_behavior": "none"},
    ]})
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [(SEP_1_2020, OCT_1_2020),
                                                                     (OCT_1_2020, NOV_1_2020)]
    # Nothing changes now: no proration, same items.
    assert stripe_client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []

    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": OCT_1_2020 + 7200})
    renewal = _cycle_invoices(stripe_client, customer.id)[0]
    # The October renewal bills the new phase: 5 × 1500, no proration lines.
    assert [(line.pricing.price_details.price, line.quantity, line.amount) for line in renewal.lines.data] == \
        [(new_price.id, 5, 7500)]
    schedule = stripe_client.v1.subscription_schedules.retrieve(schedule.id)
    assert schedule.current_phase.start_date == OCT_1_2020 and schedule.status == "active"

    # The last phase ends on Nov 1: release (the default) completes the schedule, the subscription stays.
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": NOV_1_2020 + 7200})
    schedule = stripe_client.v1.subscription_schedules.retrieve(schedule.id)
    assert schedule.status == "completed" and schedule.completed_at == NOV_1_2020
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "active" and sub.schedule is None
    assert len(_cycle_invoices(stripe_client, customer.id)) == 2
    types = _event_types(stripe_client)
    for name in ("subscription_schedule.created", "subscription_schedule.updated", "subscription_schedule.completed"):
        assert name in types


def test_a_schedule_ending_with_cancel_cancels_instead_of_renewing(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    stripe_client.v1.subscription_schedules.update(schedule.id, {"end_behavior": "cancel"})
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": OCT_1_2020 + 7200})
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled" and sub.ended_at == OCT_1_2020
    assert _cycle_invoices(stripe_client, customer.id) == []
    assert "customer.subscription.deleted" in _event_types(stripe_client)


def test_changing_the_current_phase_prorates_now_with_the_request_behavior(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 + 15 * DAY})
    stripe_client.v1.subscription_schedules.update(schedule.id, {"phases": [
        {"items": [{"price": price.id, "quantity": 8}], "start_date": SEP_1_2020, "end_date": OCT_1_2020}]})
    items = stripe_client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data
    # Half the period left: 5 × 1000 × ½ = 2500 credited, 8 × 1000 × ½ = 4000 debited.
    assert sorted(ii.amount for ii in items) == [-2500, 4000]


def test_release_keeps_the_subscription_and_cancel_ends_it(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    released = stripe_client.v1.subscription_schedules.release(schedule.id)
    assert released.status == "released" and released.released_subscription == sub.id
    assert released.subscription is None
    assert stripe_client.v1.subscriptions.retrieve(sub.id).schedule is None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscription_schedules.release(schedule.id)

    other = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    canceled = stripe_client.v1.subscription_schedules.cancel(other.id)
    assert canceled.status == "canceled"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert "subscription_schedule.canceled" in _event_types(stripe_client)
    assert "subscription_schedule.released" in _event_types(stripe_client)


def test_schedule_parameters_the_sandbox_does_not_model_are_refused(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscription_schedules.create({"customer": customer.id, "phases": [
            {"items": [{"price": price.id}]}]})
    assert info.value.code == "parameter_unsupported"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id, "end_behavior": "cancel"})
    assert info.value.code == "parameter_unsupported"
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    for phases, param in (([{"items": [{"price": price.id}], "end_date": OCT_1_2020 + 3600}], "phases[0][end_date]"),
                          ([{"items": [{"price": price.id}], "trial": True}], "phases[0][trial]")):
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.subscription_schedules.update(schedule.id, {"phases": phases})
        assert (info.value.code, info.value.param) == ("parameter_unsupported", param)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscription_schedules.update(schedule.id, {"end_behavior": "renew"})
    assert info.value.code == "parameter_unsupported"
    # A quantity change on the subscription itself is refused while a schedule manages it (UNVERIFIED).
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 6})


# --------------------------------------------------------------- cancellation


def test_cancel_now_with_prorate_and_invoice_now_credits_and_bills_the_unused_time(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 + 15 * DAY})
    canceled = stripe_client.v1.subscriptions.cancel(sub.id, {"prorate": True, "invoice_now": True})
    assert canceled.status == "canceled" and canceled.canceled_at == SEP_1_2020 + 15 * DAY
    assert canceled.ended_at == SEP_1_2020 + 15 * DAY
    final = stripe_client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    # 5 × 1000 × 15/30 = 2500 credited; the negative total goes to the balance.
    assert final.total == -2500
    assert stripe_client.v1.customers.retrieve(customer.id).balance == -2500
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.update(sub.id, {"items": [{"id": sub["items"].data[0].id, "quantity": 2}]})
    updated = stripe_client.v1.subscriptions.update(sub.id, {"metadata": {"why": "moved"}})
    assert updated.metadata["why"] == "moved"
    assert "customer.subscription.deleted" in _event_types(stripe_client)
    assert stripe_client.v1.subscriptions.list({"customer": customer.id}).data == []


def test_cancel_now_without_prorate_or_invoice_removes_pending_prorations(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    stripe_client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 6})
    assert len(stripe_client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data) == 2
    stripe_client.v1.subscriptions.cancel(sub.id)
    assert stripe_client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []
    assert "invoiceitem.deleted" in _event_types(stripe_client)


def test_cancel_at_period_end_stays_active_then_ends_without_a_renewal(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    updated = stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert updated.status == "active" and updated.cancel_at_period_end and updated.cancel_at == OCT_1_2020
    assert updated.canceled_at == SEP_1_2020
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": OCT_1_2020 + 7200})
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled" and sub.ended_at == OCT_1_2020
    assert _cycle_invoices(stripe_client, customer.id) == []


def test_cancel_at_mid_period_credits_the_rest_of_the_period(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    stripe_client.v1.subscriptions.update(sub.id, {"cancel_at": SEP_1_2020 + 20 * DAY})
    items = stripe_client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data
    # 10 of 30 days unused: 5 × 1000 × 10/30 = 1666.67 → −1667.
    assert [ii.amount for ii in items] == [-1667]
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 + 21 * DAY})
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled" and sub.ended_at == SEP_1_2020 + 20 * DAY
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.update(sub.id, {"cancel_at": "max_period_end"})
    assert info.value.param == "cancel_at"


# ---------------------------------------------------------------------- pause


@pytest.mark.parametrize("behavior,status", [("void", "void"), ("mark_uncollectible", "uncollectible"),
                                             ("keep_as_draft", "draft")])
def test_paused_collection_handles_renewal_invoices_as_documented(stripe_client, behavior, status):
    clock, customer, sub, price = _subscribe(stripe_client)
    paused = stripe_client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": behavior}})
    assert paused.status == "active" and paused.pause_collection.behavior == behavior
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": OCT_1_2020 + 7200})
    renewal = _cycle_invoices(stripe_client, customer.id)[0]
    assert renewal.status == status and renewal.amount_paid == 0
    resumed = stripe_client.v1.subscriptions.update(sub.id, {"pause_collection": ""})
    assert resumed.pause_collection is None
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": NOV_1_2020 + 7200})
    assert _cycle_invoices(stripe_client, customer.id)[0].status == "paid"


def test_pause_resumes_at_the_given_time_and_resume_needs_a_paused_status(stripe_client):
    clock, customer, sub, price = _subscribe(stripe_client)
    stripe_client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": "void",
                                                                        "resumes_at": SEP_1_2020 + 10 * DAY}})
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": OCT_1_2020 + 7200})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).pause_collection is None
    assert _cycle_invoices(stripe_client, customer.id)[0].status == "paid"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.resume(sub.id)


def test_every_event_sent_is_a_type_stripe_python_declares(stripe_client):
    import typing

    from stripe._event import Event

    clock, customer, sub, price = _subscribe(stripe_client)
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    stripe_client.v1.subscription_schedules.update(schedule.id, {"end_behavior": "cancel"})
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": OCT_1_2020 + 7200})
    _, other, sub2, _ = _subscribe(stripe_client)
    stripe_client.v1.subscriptions.update(sub2.id, {"pause_collection": {"behavior": "void"}})
    stripe_client.v1.subscription_items.update(sub2["items"].data[0].id, {"quantity": 7})
    stripe_client.v1.subscriptions.cancel(sub2.id)
    assert set(_event_types(stripe_client)) <= set(typing.get_args(Event.__annotations__["type"]))
