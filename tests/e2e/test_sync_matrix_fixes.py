"""Regression tests for what the end-to-end matrix (tests/e2e/test_sync_matrix.py) found."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
import stripe

from adapter.providers.chargebee.seats import ChargebeeSeats
from tests.support import scenarios as S
from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price


def utc(*parts) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


def test_stripe_sandbox_periods_step_from_the_anchor_day_not_the_clamped_end(stripe_client):
    """docs/stripe.md#billing-cycle-anchor: a Jan 31 anchor bills Feb 28/29, Mar 31, Apr 30.
    The sandbox stepped from the previous (clamped) period end: Feb 28 → Mar 28."""
    clock, customer = stripe_customer_on_clock(stripe_client, utc(2026, 1, 31))
    price = stripe_price(stripe_client, "Seat", 500)
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})

    def period_end():
        item = stripe_client.v1.subscriptions.retrieve(sub.id).to_dict()["items"]["data"][0]
        return item["current_period_end"]

    assert period_end() == utc(2026, 2, 28)
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": utc(2026, 3, 1)})
    assert period_end() == utc(2026, 3, 31)
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": utc(2026, 4, 1)})
    assert period_end() == utc(2026, 4, 30)


def test_a_day_granular_plan_change_on_stripe_is_prorated_from_local_midnight(tmp_path, sandbox, stripe_client):
    """Seed 000 on Stripe (day proration in Oslo): the Solo → Pro swap on April 13 at 09:00 Oslo is dated
    at April 13 00:00 Oslo (April 12 22:00 UTC), like its quantity changes; it was dated at 09:00."""
    harness = S.stripe_harness(tmp_path, sandbox, stripe_client)
    script = S.Script("000-upgrade", "000", "monthly", 2, (S.Step(12, 9, plan="upgrade"),), end_day=14)
    S.run(harness, script)
    [call] = [row for row in harness.db.query("SELECT * FROM provider_calls WHERE kind = 'plan'")]
    assert json.loads(call["params"])["proration_date"] == utc(2026, 4, 12, 22)
    pending = stripe_client.v1.invoice_items.list({"customer": harness.customer, "pending": True})
    assert {item.period["start"] for item in pending.auto_paging_iter()} == {utc(2026, 4, 12, 22)}


def test_the_unbilled_total_does_not_send_is_voided_and_skips_voided_charges():
    """chargebee-python declares UnbilledCharge.list's is_voided a plain boolean; the sandbox reads
    is_voided[is] and answered 400 param_wrong_value to the plain one, dead-lettering every
    threshold call (seed 002 annual on Chargebee). The filter is client-side now."""
    seen = []

    def charge(amount, voided=False, discount=0):
        return SimpleNamespace(unbilled_charge=SimpleNamespace(raw_data={"amount": amount, "is_voided": voided,
                                                                         "discount_amount": discount}))

    class UnbilledCharge:
        @staticmethod
        def list(params):
            seen.append(params)
            return SimpleNamespace(list=[charge(9000), charge(5000, voided=True), charge(7000, discount=500)],
                                   next_offset=None)

    seats = ChargebeeSeats(SimpleNamespace(UnbilledCharge=UnbilledCharge))
    assert seats.unbilled_total("sub-1") == 15500
    assert seen == [{"subscription_id": {"is": "sub-1"}, "limit": 100}]


@pytest.mark.parametrize("provider", ["stripe", "chargebee"])
def test_the_sandbox_injects_lock_timeouts_in_each_providers_shape(provider, sandbox, stripe_client,
                                                                   chargebee_client):
    response = httpx.post(f"{sandbox.url}/_sandbox/faults/{provider}",
                          json={"fail_next": {"kind": "lock_timeout", "count": 1}}, timeout=10)
    assert response.status_code == 200, response.text
    if provider == "stripe":
        with pytest.raises(stripe.RateLimitError) as caught:
            stripe_client.v1.customers.create({"name": "x"})
        assert caught.value.error.code == "lock_timeout"
        stripe_client.v1.customers.create({"name": "x"})  # only the next request failed
    else:
        from chargebee.api_error import OperationFailedError

        with pytest.raises(OperationFailedError) as caught:
            chargebee_client.Customer.create({"id": "c1"})
        assert caught.value.http_status_code == 429 and caught.value.api_error_code == "lock_timeout"
        chargebee_client.Customer.create({"id": "c1"})
    assert httpx.get(f"{sandbox.url}/_sandbox/faults", timeout=10).json()["injected"][-1]["kind"] == "lock_timeout"


def test_lock_timeout_rate_counts_against_the_total_of_fault_rates(sandbox):
    response = httpx.post(f"{sandbox.url}/_sandbox/faults/stripe",
                          json={"server_error_rate": 0.6, "lock_timeout_rate": 0.5}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "rate_limit_rate"


def test_a_transient_failure_reading_the_time_machine_does_not_switch_the_site_clock_off(sandbox, chargebee_client):
    """A 429 on TimeMachine.retrieve made ChargebeeSeats decide the site had no time machine, for good:
    from then on it read the wall clock, and a first look would take the wrong baseline instant. Now
    the failure is raised (the read is retried) and the clock is read again next time."""
    chargebee_client.TimeMachine.start_afresh("delorean", {"genesis_time": utc(2026, 4, 1)})
    seats = ChargebeeSeats(chargebee_client)
    httpx.post(f"{sandbox.url}/_sandbox/faults/chargebee", json={"fail_next": {"kind": "rate_limit", "count": 1}},
               timeout=10)
    from chargebee.api_error import APIError

    with pytest.raises(APIError):
        seats.site_now_us()
    assert seats.site_now_us() == utc(2026, 4, 1) * 1_000_000
