"""Chargebee sandbox billing math, checked against the reference's worked examples and the seeds."""

from __future__ import annotations

from datetime import datetime, timezone
from fractions import Fraction

import pytest

from tests.sandbox.chargebee.proration import Segment, consolidate
from tests.sandbox.chargebee.money import line_amount
from tests.sandbox.chargebee.params import decode
from tests.sandbox.chargebee.errors import ChargebeeError
from tests.sandbox.chargebee.terms import add_period, align_start, fraction_of_term, shown_end, to_ms


def ms(*parts, tz=timezone.utc) -> int:
    return to_ms(datetime(*parts, tzinfo=tz))


APR1, MAY1 = ms(2026, 4, 1), ms(2026, 5, 1)


def test_day_mode_counts_the_day_of_a_change_as_remaining():
    # Reference §3 worked example: Apr 11 of a 30-day April term leaves 20 days.
    assert fraction_of_term(ms(2026, 4, 11, 15, 30), MAY1, APR1, MAY1, "day", "UTC") == Fraction(20, 30)
    # Seed 000: a seat removed on April 16 is paid for April 1-15, exactly half.
    assert fraction_of_term(ms(2026, 4, 16, 23, 59), MAY1, APR1, MAY1, "day", "UTC") == Fraction(1, 2)


def test_millisecond_mode_uses_remaining_ms_over_term_ms():
    noon = ms(2026, 4, 16, 12)
    assert fraction_of_term(noon, MAY1, APR1, MAY1, "millisecond", "UTC") == Fraction(MAY1 - noon, MAY1 - APR1)
    assert fraction_of_term(noon, MAY1, APR1, MAY1, "millisecond", "UTC") == Fraction(29, 60)


def test_worked_seat_example_amounts_to_the_cent():
    assert line_amount(3, 1000, Fraction(20, 30), "ROUND_HALF_UP") == 2000
    # 2 x 1000 x 10/30 = 666.67: the rule decides, and it is a named setting.
    assert line_amount(2, 1000, Fraction(10, 30), "ROUND_HALF_UP") == 667
    assert line_amount(2, 1000, Fraction(10, 30), "ROUND_DOWN") == 666
    assert line_amount(1, 1000, Fraction(10, 30), "ROUND_HALF_UP") == 333
    # Support topic 40893: $30 -> $15 on Apr 5 with 26 of 30 days left: $26 credit, $13 charge.
    share = fraction_of_term(ms(2026, 4, 5), MAY1, APR1, MAY1, "day", "UTC")
    assert share == Fraction(26, 30)
    assert (line_amount(1, 3000, share, "ROUND_HALF_UP"), line_amount(1, 1500, share, "ROUND_HALF_UP")) == (2600, 1300)


def test_half_cent_ties_follow_the_named_rule():
    assert line_amount(1, 1, Fraction(1, 2), "ROUND_HALF_UP") == 1
    assert line_amount(1, 1, Fraction(1, 2), "ROUND_HALF_EVEN") == 0
    with pytest.raises(ValueError):
        line_amount(1, 1, Fraction(1, 2), "ROUND_SOMETIMES")


def test_day_mode_terms_run_from_midnight_and_show_23_59_59_in_the_site_timezone():
    kolkata = "Asia/Kolkata"
    start = align_start(ms(2026, 4, 1, 0, 30), "day", kolkata)  # 06:00 in Kolkata on Apr 1
    assert start == ms(2026, 3, 31, 18, 30)  # Apr 1 00:00 +05:30
    end = add_period(start, 1, "month", 1, kolkata)
    assert end == ms(2026, 4, 30, 18, 30)
    assert shown_end(end, "day") == end // 1000 - 1
    assert shown_end(end, "millisecond") == end // 1000


def test_month_terms_keep_the_anchor_day_after_short_months():
    jan31 = ms(2026, 1, 31)
    assert add_period(jan31, 1, "month", 1, "UTC") == ms(2026, 2, 28)
    assert add_period(jan31, 1, "month", 2, "UTC") == ms(2026, 3, 31)
    assert add_period(ms(2024, 2, 29), 1, "year", 1, "UTC") == ms(2025, 2, 28)


def test_consolidation_revises_pending_charges_instead_of_stacking():
    apr11, apr21 = ms(2026, 4, 11), ms(2026, 4, 21)
    pending = Segment("seat", apr11, MAY1, APR1, MAY1, 3)
    decrease = Segment("seat", apr21, MAY1, APR1, MAY1, -2)
    assert consolidate([pending, decrease]) == [Segment("seat", apr11, apr21, APR1, MAY1, 3),
                                                Segment("seat", apr21, MAY1, APR1, MAY1, 1)]
    # Going below the billed quantity leaves a credit segment.
    below = Segment("seat", apr21, MAY1, APR1, MAY1, -4)
    assert consolidate([pending, below]) == [Segment("seat", apr11, apr21, APR1, MAY1, 3),
                                             Segment("seat", apr21, MAY1, APR1, MAY1, -1)]
    # An increase undone later in the same term nets to nothing.
    assert consolidate([pending, Segment("seat", apr11, MAY1, APR1, MAY1, -3)]) == []


def test_deep_object_form_decoding():
    decoded = decode([("subscription_items[item_price_id][0]", "seat"), ("subscription_items[quantity][0]", "5"),
                      ("subscription_items[item_price_id][1]", "base"), ("prorate", "true"),
                      ("subscription_id[is]", "sub_1"), ("card[number]", "4111111111111111")])
    assert decoded == {"subscription_items": {0: {"item_price_id": "seat", "quantity": "5"}, 1: {"item_price_id": "base"}},
                       "prorate": "true", "subscription_id": {"is": "sub_1"}, "card": {"number": "4111111111111111"}}
    with pytest.raises(ChargebeeError) as exc:
        decode([("subscription_items[quantity][x]", "5")])
    assert exc.value.param == "subscription_items[quantity][x]"


# money conservation over random seat timelines (billing module, no HTTP) ------------------------

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

from tests.sandbox.chargebee.ops import catalog, renewals, subscriptions  # noqa: E402
from tests.sandbox.chargebee.state import ChargebeeState  # noqa: E402

DAY_MS = 86_400_000


def _april_site(mode: str, start_quantity: int) -> ChargebeeState:
    state = ChargebeeState(genesis_ms=APR1)
    state.settings.billing_mode = mode
    catalog.create_item(state, {"id": "seat", "name": "Seat", "type": "plan"})
    catalog.create_item_price(state, {"id": "seat-USD", "name": "Seat USD", "item_id": "seat",
                                      "pricing_model": "per_unit", "price": "1000", "period": "1",
                                      "period_unit": "month"})
    catalog.create_customer(state, {"id": "acme", "card": {"number": "4111111111111111"}})
    subscriptions.create_with_items(state, "acme", {"id": "sub", "subscription_items": {
        0: {"item_price_id": "seat-USD", "quantity": str(start_quantity)}}})
    return state


timelines = st.lists(st.tuples(st.integers(min_value=0, max_value=29 * DAY_MS - 1), st.integers(1, 20)),
                     min_size=1, max_size=8).map(lambda changes: sorted(changes))


@hsettings(max_examples=60, deadline=None)
@given(start=st.integers(1, 20), changes=timelines, mode=st.sampled_from(["day", "millisecond"]),
       invoice_now=st.booleans())
def test_prorations_conserve_money_whatever_the_order_of_changes(start, changes, mode, invoice_now):
    """Charges minus credits equal the seat-time actually used beyond the billed quantity,
    within half a cent per rounded amount, however increases and decreases interleave."""
    state = _april_site(mode, start)
    expected = Fraction(0)
    quantity, since = start, APR1
    for offset, new_quantity in changes:
        at = APR1 + DAY_MS // 2 + offset
        state.now_ms = max(state.now_ms, at)
        subscriptions.update_for_items(state, "sub", {
            "subscription_items": {0: {"item_price_id": "seat-USD", "quantity": str(new_quantity)}},
            "prorate": "true", "invoice_immediately": "true" if invoice_now else "false"})
        effective = align_start(state.now_ms, mode, "UTC")
        expected += (quantity - start) * fraction_of_term(since, effective, APR1, MAY1, mode, "UTC") * 1000
        quantity, since = new_quantity, effective
    expected += (quantity - start) * fraction_of_term(since, MAY1, APR1, MAY1, mode, "UTC") * 1000

    invoices = [inv for inv in state.invoices.values() if not inv["recurring"]]
    open_unbilled = [uc for uc in state.unbilled_charges.values() if not uc["is_voided"] and not uc["deleted"]]
    charged = sum(inv["total"] for inv in invoices) + sum(uc["amount"] for uc in open_unbilled)
    credited = sum(cn["total"] for cn in state.credit_notes.values())
    line_count = (sum(len(inv["line_items"]) for inv in invoices) + len(open_unbilled)
                  + sum(len(cn["line_items"]) for cn in state.credit_notes.values()))
    # Half a cent per rounded amount: each written line, plus each change whose prorated amount
    # rounded to zero and so left no line at all (1 ms of one seat is 1000/2,592,000 of a cent).
    assert abs((charged - credited) - expected) <= Fraction(line_count + len(changes), 2)

    # The renewal bills the final quantity plus what is still unbilled, and available credits pay first.
    renewal = renewals.renew(state, state.subscriptions["sub"])
    assert renewal["total"] == quantity * 1000 + sum(uc["amount"] for uc in open_unbilled)
    assert renewal["credits_applied"] + renewal["amount_paid"] == renewal["total"]
    assert all(uc["deleted"] for uc in open_unbilled)
