"""The policy → provider translation, one table row per plan of the three articles and per provider."""

from pathlib import Path

import pytest

from adapter.billing.policy import load_catalog
from adapter.providers.translate import (
    SubscriptionState,
    TranslateError,
    plan_change_call,
    policy_table,
    quantity_call,
    threshold_call,
)

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO / "mappings")
APRIL_16_US = 1_776_297_600 * 1_000_000


def state(provider: str, plan, quantity: int = 10) -> SubscriptionState:
    return SubscriptionState(
        provider=provider, subscription="sub_1", customer="cus_1", status="active",
        period_start_us=1_775_001_600 * 1_000_000, period_end_us=1_777_593_600 * 1_000_000,
        quantity=quantity, seat_item="si_seat" if provider == "stripe" else plan.seat.price_id,
        seat_price=plan.seat.price_id,
        base_item=("si_base" if provider == "stripe" else plan.base_fee.price_id) if plan.base_fee else None,
        base_price=plan.base_fee.price_id if plan.base_fee else None)


# plan id → (increase flags, decrease flags), as each article reads (see the comments in mappings/).
STRIPE_EXPECTED = {
    "standard-monthly": ("create_prorations", "create_prorations"),  # 001: next invoice; credit applied later
    "premium-monthly": ("create_prorations", "create_prorations"),
    "standard-annual": ("always_invoice", "create_prorations"),  # 001: annual adds charged immediately
    "premium-annual": ("always_invoice", "create_prorations"),
}
CHARGEBEE_EXPECTED = {
    "konfidens-solo-monthly": ((True, False), (True, False)),  # 000: day proration at the next withdrawal
    "konfidens-pro-monthly": ((True, False), (True, False)),
}


@pytest.mark.parametrize("plan_id, flags", sorted(STRIPE_EXPECTED.items()))
def test_stripe_flags_per_plan(plan_id, flags):
    plan = CATALOG.plans[plan_id]
    up = quantity_call(plan, state("stripe", plan), old=10, new=11, effective_us=APRIL_16_US)
    down = quantity_call(plan, state("stripe", plan), old=10, new=9, effective_us=APRIL_16_US)
    assert (up.params["proration_behavior"], down.params["proration_behavior"]) == flags
    assert up.operation == "stripe.subscription_items.update" and up.target == "si_seat"
    assert up.params["quantity"] == 11 and up.params["proration_date"] == APRIL_16_US // 1_000_000


@pytest.mark.parametrize("plan_id, flags", sorted(CHARGEBEE_EXPECTED.items()))
def test_chargebee_flags_are_always_explicit(plan_id, flags):
    plan = CATALOG.plans[plan_id]
    up = quantity_call(plan, state("chargebee", plan), old=10, new=11, effective_us=APRIL_16_US)
    down = quantity_call(plan, state("chargebee", plan), old=10, new=9, effective_us=APRIL_16_US)
    for call, (prorate, invoice_now) in zip((up, down), flags):
        assert call.params["prorate"] is prorate and call.params["invoice_immediately"] is invoice_now
        assert call.params["change_option"] == "immediately"
    assert up.params["subscription_items"] == [{"item_price_id": plan.seat.price_id, "quantity": 11}]


def test_every_plan_of_the_articles_translates_on_its_provider():
    for plan in CATALOG.plans.values():
        for old, new in ((5, 6), (6, 5)):
            call = quantity_call(plan, state(plan.provider, plan), old=old, new=new, effective_us=APRIL_16_US)
            assert call.quantity == new


def test_threshold_plans_invoice_past_the_threshold():
    thresholds = [p for p in CATALOG.plans.values() if p.increase == "threshold"]
    assert thresholds, "seed 002's annual plan uses the threshold rule"
    for plan in thresholds:
        call = threshold_call(plan, state(plan.provider, plan))
        assert call.params["threshold"] == plan.increase_threshold == 15000


def test_at_renewal_plans_send_no_proration():
    renewal = [p for p in CATALOG.plans.values() if p.increase == "at_renewal"]
    assert renewal, "seed 002's monthly plan bills at renewal only"
    for plan in renewal:
        call = quantity_call(plan, state(plan.provider, plan), old=3, new=4, effective_us=APRIL_16_US)
        if plan.provider == "stripe":
            assert call.params["proration_behavior"] == "none" and "proration_date" not in call.params
        else:
            assert call.params["prorate"] is False


def test_plan_change_swaps_both_prices_in_one_update_and_keeps_the_quantity():
    standard, premium = CATALOG.plans["standard-monthly"], CATALOG.plans["premium-monthly"]
    call = plan_change_call(standard, premium, state("stripe", standard), quantity=10, effective_us=APRIL_16_US)
    assert call.operation == "stripe.subscriptions.update"
    assert call.params["items"] == [
        {"id": "si_seat", "price": premium.seat.price_id, "quantity": 10},
        {"id": "si_base", "price": premium.base_fee.price_id},
    ]
    assert call.params["proration_behavior"] == "create_prorations"


def test_chargebee_quantity_zero_is_refused_before_it_reaches_chargebee():
    plan = CATALOG.plans["konfidens-solo-monthly"]
    with pytest.raises(TranslateError, match="quantity"):
        quantity_call(plan, state("chargebee", plan), old=1, new=0, effective_us=APRIL_16_US)


def test_architecture_md_holds_the_generated_table():
    assert policy_table() in (REPO / "ARCHITECTURE.md").read_text()
