"""The seat planner's invariants (adapter/seat_plan.py), as properties over random streams of facts.

A simulated provider takes each plan's calls: it holds a quantity and bills ``Δq × measure(date)`` per
call, the linear rule both providers document (docs/stripe.md#proration-amounts,
docs/chargebee.md#proration-arithmetic). Facts (activations, deactivations, bulk imports and removals)
arrive in waves, late and out of order; after each wave the planner runs against the ledger's truth, and
sometimes crashes half-way (the rest of its calls are resent unchanged, as seat sync does) or is asked
again with nothing new.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.providers.base import Grid
from adapter.sync.plan import plan_quantities
from adapter.sync.timeline import Timeline, corrections

S = 1_000_000
DAY = 86400 * S
START = 1775001600 * S  # 2026-04-01 00:00 UTC
END = START + 30 * DAY

GRIDS = {
    "stripe-second": dict(dating="second", unit="second", monotonic=False),
    "stripe-day": dict(dating="day", unit="second", monotonic=False),
    "chargebee-ms-backdated": dict(dating="second", unit="millisecond", monotonic=True),
    "chargebee-day-backdated": dict(dating="day", unit="day", monotonic=True),
    "chargebee-ms-now": dict(dating="now", unit="millisecond", monotonic=True),
    "chargebee-day-now": dict(dating="now", unit="day", monotonic=True),
}


class Provider:
    """Holds a quantity, bills Δq × measure(date) per call, remembers the latest date it was given."""

    def __init__(self, quantity: int, grid: Grid):
        self.quantity = quantity
        self.money = quantity * grid.measure(START)
        self.last_date = START
        self.held: list[int] = []

    def take(self, call, grid: Grid) -> None:
        assert grid.earliest_us <= call.date_us <= grid.latest_us, "a call dated outside what the provider allows"
        if grid.monotonic:
            assert call.date_us >= self.last_date, "a date went back on a provider that forbids it"
        self.money += (call.quantity - self.quantity) * grid.measure(call.date_us)
        self.quantity = call.quantity
        self.last_date = max(self.last_date, call.date_us)
        self.held.append(call.quantity)


def truth_of(facts: list[tuple[int, str, bool]], initial: int, grid: Grid) -> Timeline:
    """The ledger's count: ``initial`` users from before the period, then per user the latest fact wins
    (at one instant a deactivation beats an activation, as adapter/ledger.py rules)."""
    active = {f"old{n}" for n in range(initial)}
    steps = []
    for instant, user, is_active in sorted(facts, key=lambda f: (f[0], f[2])):
        (active.add if is_active else active.discard)(user)
        steps.append((instant, len(active)))
    return Timeline.from_points(initial, steps).snapped(lambda t: max(grid.snap(t), START))


def grid_at(kind: str, now: int, earliest: int) -> Grid:
    spec = GRIDS[kind]
    return Grid(spec["dating"], spec["unit"], START, END, earliest if spec["monotonic"] else START, now,
                "Europe/Oslo", spec["monotonic"])


@st.composite
def streams(draw):
    """Waves of facts: most near the wave's time, some late (hours or days back), some bulk imports or
    removals; removals name users that are active by then as far as the product knows."""
    waves = []
    for _ in range(draw(st.integers(1, 7))):
        wave = []
        for _ in range(draw(st.integers(0, 12))):
            back = draw(st.sampled_from([0, 0, 0, 0, 5 * S, 3600 * S, 2 * DAY]))
            count = draw(st.sampled_from([1, 1, -1, -1, 1, 40, -25]))
            wave.append((back, draw(st.integers(0, 90)), count))
        waves.append(wave)
    return waves


def run(kind: str, waves, seed: int, *, initial: int = 20, dip_first: bool = False) -> dict:
    rng = random.Random(seed)
    now = START + DAY
    facts: list[tuple[int, str, bool]] = []
    provider = None
    covered = None
    residuals = 0
    stats = {"calls": 0, "residual": 0, "passes": 0}
    users = [f"old{n}" for n in range(initial)]
    for wave in waves:
        for back, offset, count in wave:
            at = max(START, now + offset * S - back)
            if count > 0:
                for _ in range(count):
                    users.append(f"u{len(facts)}-{len(users)}")
                    facts.append((at, users[-1], True))
            else:
                for _ in range(min(-count, len(users))):
                    facts.append((at, users.pop(rng.randrange(len(users))), False))
        now += 120 * S + rng.randint(0, 6 * 3600) * S
        grid = grid_at(kind, now, provider.last_date if provider else START)
        if provider is None:
            provider = Provider(initial, grid)
            covered = Timeline(initial)
        truth = truth_of(facts, initial, grid)
        plan = plan_quantities(truth, covered, quantity=provider.quantity, pushed_money=provider.money + residuals,
                               window_start=START, horizon=now + 1, grid=grid, dip_first=dip_first)
        target = truth.money(START, now + 1, grid.measure) - provider.money - residuals
        # Invariant 1: every quantity held lies within the truth's range over the window the plan stands for.
        footprint = corrections(truth, covered, START, now + 1)
        low, high = truth.value_range(footprint[0][0] if footprint else START, now + 1)
        old_low, old_high = covered.value_range(footprint[0][0] if footprint else START, now + 1)
        if not dip_first:  # what was billed for the window before
            low, high = min(low, old_low), max(high, old_high)
        low, high = min(low, provider.quantity), max(high, provider.quantity)  # where the pass starts
        before = provider.money
        calls = list(plan.calls)
        crash_at = rng.randint(0, len(calls)) if calls and rng.random() < 0.3 else None
        for n, call in enumerate(calls):
            if n == crash_at:
                break  # the worker dies here; the planned calls are resent unchanged below
            provider.take(call, grid)
        for call in calls[crash_at:] if crash_at is not None else []:
            provider.take(call, grid)
        assert all(low <= q <= high for q in (c.quantity for c in calls)), (calls, low, high)
        # Invariant 2: the last call sets the ledger's quantity.
        assert provider.quantity == truth.at(now), (provider.quantity, truth.at(now))
        # Invariant 3: money is exact up to the residual the plan reports.
        assert provider.money - before + plan.residual == target
        residuals += plan.residual
        covered = truth
        # Invariant 4: planning again with nothing new sends nothing.
        again = plan_quantities(truth, covered, quantity=provider.quantity,
                                pushed_money=provider.money + residuals, window_start=START, horizon=now + 1,
                                grid=grid_at(kind, now, provider.last_date))
        assert again.calls == () and again.residual == 0, again
        stats["calls"] += len(calls)
        stats["residual"] += abs(plan.residual)
        stats["passes"] += 1
    assert provider is None or truth.money(START, now + 1, grid.measure) == provider.money + residuals
    return stats


@settings(max_examples=200, deadline=None)
@given(waves=streams(), seed=st.integers(0, 10**6), kind=st.sampled_from(sorted(GRIDS)), dip_first=st.booleans())
def test_every_plan_keeps_the_range_the_end_state_the_money_and_idempotence(waves, seed, kind, dip_first):
    run(kind, waves, seed, dip_first=dip_first)


@settings(max_examples=100, deadline=None)
@given(waves=streams(), seed=st.integers(0, 10**6), kind=st.sampled_from(["stripe-second", "stripe-day"]))
def test_a_provider_that_dates_any_change_in_the_period_is_billed_exactly(waves, seed, kind):
    """Stripe takes a proration_date anywhere in the current period, in any order: late facts included,
    nothing is ever left over. (Chargebee's backdating must follow its last item change, so a fact
    learned late can only be billed from there: a residual the plan reports.)"""
    stats = run(kind, waves, seed)
    assert stats["residual"] == 0


def test_the_eleven_seat_account_never_leaves_its_range():
    """Issue 18's measurement: an 11-seat account settled over 8 waves was pushed 8, 12, 7, 16, 6, 28, 8,
    51, …, 1419 seats by the seat-weighted-mean pairs. Here every pass stays within the ledger's range."""
    rng = random.Random(11)
    waves = [[(0, rng.randint(0, 59), rng.choice([1, -1])) for _ in range(8)] for _ in range(8)]  # noqa
    stats = run("stripe-second", waves, 3, initial=11)
    assert stats["residual"] == 0


def test_a_burst_of_5000_activations_is_at_most_three_calls_and_exact():
    now = START + DAY
    rng = random.Random(5)
    facts = [(now + rng.randint(0, 60 * S), f"n{n}", True) for n in range(5000)]
    grid = grid_at("stripe-second", now + 61 * S, START)
    truth = truth_of(facts, 10, grid)
    plan = plan_quantities(truth, Timeline(10), quantity=10, pushed_money=10 * grid.measure(START),
                           window_start=START, horizon=now + 62 * S, grid=grid)
    assert len(plan.calls) <= 3 and plan.residual == 0
    assert plan.calls[-1].quantity == 5010
    assert all(10 <= c.quantity <= 5010 for c in plan.calls)


def test_one_change_is_one_call_at_its_own_instant():
    at = START + 15 * DAY + 123 * S
    grid = grid_at("stripe-second", START + 16 * DAY, START)
    truth = Timeline(10, ((at, 11),))
    plan = plan_quantities(truth, Timeline(10), quantity=10, pushed_money=10 * grid.measure(START),
                           window_start=START, horizon=START + 16 * DAY, grid=grid)
    assert [(c.date_us, c.quantity) for c in plan.calls] == [(at, 11)]
    assert plan.strategy == "per_change"


def test_a_policy_that_invoices_at_once_sends_the_removal_before_the_add():
    """Seed 001 annual: the card is charged for an add at once, and a removal's credit must be on that
    invoice. Learned together, a removal and a later add go out in that order, each at its own date."""
    remove, add = START + 10 * DAY, START + 10 * DAY + 5 * S
    grid = grid_at("stripe-second", START + 11 * DAY, START)
    truth = Timeline(10, ((remove, 9), (add, 10)))
    plan = plan_quantities(truth, Timeline(10), quantity=10, pushed_money=10 * grid.measure(START),
                           window_start=START, horizon=START + 11 * DAY, grid=grid, dip_first=True)
    assert [(c.date_us, c.quantity) for c in plan.calls] == [(remove, 9), (add, 10)]
    assert plan.residual == 0


def test_an_add_and_its_own_removal_never_dip_below_what_existed_even_when_invoicing_at_once():
    """The same policy, a seat added and removed again: sending the removal first would hold 9 seats,
    fewer than ever existed. It goes out as it happened (the add's invoice, then the credit)."""
    add, remove = START + 10 * DAY, START + 10 * DAY + 5 * S
    grid = grid_at("stripe-second", START + 11 * DAY, START)
    truth = Timeline(10, ((add, 11), (remove, 10)))
    plan = plan_quantities(truth, Timeline(10), quantity=10, pushed_money=10 * grid.measure(START),
                           window_start=START, horizon=START + 11 * DAY, grid=grid, dip_first=True)
    assert [c.quantity for c in plan.calls] == [11, 10] and plan.residual == 0


def test_a_seat_learned_never_to_have_existed_is_credited_through_what_was_billed_for_it():
    """The ledger learns that a seat billed from day 3 to day 10 never existed, while the count stayed
    at 5 throughout. Crediting it means passing through the 6 seats that were billed for those days:
    allowed where increases wait for the next invoice, not where they are invoiced at once (that
    invoice would name a seat that never existed), so there the plan sends nothing and says so."""
    grid = grid_at("stripe-second", START + 12 * DAY, START)
    covered = Timeline(5, ((START + 3 * DAY, 6), (START + 10 * DAY, 5)))
    pushed = covered.money(START, START + 12 * DAY, grid.measure)
    kwargs = dict(quantity=5, pushed_money=pushed, window_start=START, horizon=START + 12 * DAY, grid=grid)
    credited = plan_quantities(Timeline(5), covered, **kwargs)
    assert sorted(c.quantity for c in credited.calls) == [5, 6] and credited.residual == 0
    invoiced_at_once = plan_quantities(Timeline(5), covered, dip_first=True, **kwargs)
    assert invoiced_at_once.calls == ()
    assert invoiced_at_once.residual == -7 * 86400 and invoiced_at_once.moved == invoiced_at_once.residual


def test_chargebee_without_backdating_applies_at_its_now_and_reports_the_money_moved():
    late = START + 5 * DAY
    now = START + 6 * DAY
    grid = grid_at("chargebee-day-now", now, START)
    truth = Timeline(3, ((grid.snap(late), 4),))
    plan = plan_quantities(truth, Timeline(3), quantity=3, pushed_money=3 * grid.measure(START),
                           window_start=START, horizon=now + 1, grid=grid)
    assert [c.quantity for c in plan.calls] == [4]
    assert plan.strategy == "at_now" and plan.moved == 1  # one seat-day billed from day 7 instead of day 6


def test_policies_that_do_not_prorate_only_set_the_end_state():
    grid = grid_at("stripe-second", START + 11 * DAY, START)
    truth = Timeline(10, ((START + DAY, 30), (START + 2 * DAY, 12)))
    plan = plan_quantities(truth, Timeline(10), quantity=10, pushed_money=0, window_start=START,
                           horizon=START + 11 * DAY, grid=grid, prorates=(False, False))
    assert [c.quantity for c in plan.calls] == [12] and plan.moved == 0
