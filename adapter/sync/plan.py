"""Plan the quantity calls that make a subscription bill what the ledger says. Pure: no I/O, no SDK.

Vocabulary (all instants are integer microseconds, all quantities billable seats):

- **truth**: the ledger's billable quantity over the current period, a step function whose instants
  are already snapped to what the provider can record (``Grid.snap``: whole seconds on Stripe, the
  local midnight for day-based policies).
- **covered**: the truth as it stood when the previous plan was made: what earlier calls stand for.
- **footprint**: ``corrections(truth, covered)``, the ledger facts learned since the previous plan.
- **measure(t)**: how much of the period a change dated ``t`` is prorated for, in the provider's unit
  (seconds on Stripe, milliseconds or local days on Chargebee). A provider bills a change from ``q`` to
  ``q'`` dated ``t`` as ``(q' − q) × measure(t)`` (before per-line rounding), so the money of any
  sequence of calls is linear: the sum of ``Δq × measure(date)`` over the calls.
- **pushed money**: the same sum over the calls the provider has taken (plus the residuals earlier
  plans knowingly left, so that nothing is planned twice).

The plan must set the provider to ``q = truth(horizon)`` and bill ``target = money(truth) − pushed
money``. Invariants, each checked as a property in tests/sync/test_plan.py:

1. **Range.** Every quantity the provider holds after a call lies within [min, max] of the truth over
   the window the plan stands for, [first footprint instant, horizon), widened only to what was already
   billed: the quantity the provider held when the pass began (a pass may step down from it, 24 → 23 →
   20, never beyond both ends) and, unless increases are invoiced at once, what the ledger said of the
   window before (a credit for a seat learned late never to have existed passes through the quantity
   that was billed for it). Never more seats than existed or were billed, never fewer.
2. **End state.** The last call sets ``q``.
3. **Money.** ``achieved + residual == target`` exactly. The residual is 0 whenever some plan of at
   most three calls meets 1 and 2 exactly; otherwise the closest such plan is chosen and the residual
   is reported to the caller (who records it: a shift is never silent).
4. **Idempotence.** With nothing new (``q`` held, target 0) the plan is empty.

How it chooses: a footprint of at most ``max_exact`` changes is sent one call per change, each dated
at its own instant (what billing every change one by one would do), in the first order that keeps
the range (Stripe takes ``proration_date`` in any order; Chargebee's backdating needs dates that never
go back, so there only time order). Larger footprints, or ones whose money the earlier calls do not
explain, are coalesced: one call to ``q`` at the date whose remaining time makes the money exact, or
two or three calls through intermediate quantities within the range whose dates make it exact (a
linear Diophantine equation in the dates). Day-based policies net each local day's changes into one
call dated at that day's start, up to ``max_days`` days, and coalesce beyond. A provider that cannot
date a change (Chargebee without backdating) gets one call at its own now; the money that moves is
the residual. Policies that do not prorate (``at_renewal``) only need the end state.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

from adapter.providers.base import MS_US, SECOND_US, Grid, local_midnight_us
from adapter.sync.timeline import Timeline, corrections


@dataclass(frozen=True)
class Call:
    """One write: set the absolute ``quantity`` as of ``date_us``."""

    date_us: int
    quantity: int


@dataclass(frozen=True)
class SeatPlan:
    calls: tuple[Call, ...]
    # Bookkeeping: target − Σ Δq·measure(date) of the calls, so the next plan does not redo it.
    residual: int
    # The money (measure units × seats) billed from another instant than one-by-one billing would:
    # the residual on a prorating policy, 0 on one that does not prorate (nothing is billed mid-period).
    moved: int
    window: tuple[int, int]
    bounds: tuple[int, int]  # (min, max) of the truth over the window
    footprint: tuple[tuple[int, int], ...]
    strategy: str  # none | per_change | coalesced | at_now | unprorated


# --------------------------------------------------------------------------------------- dates


class _Dates:
    """The dates a call of this plan may carry, indexed 0..count-1 in time order, with their measure.

    Seconds form an arithmetic progression (x(k) = first_x − step·k), solved in O(1); local days are
    listed (at most a year of them) and searched.
    """

    def __init__(self, dates: list[int] | None, grid: Grid, *, lo: int = 0, hi: int = -1):
        self.grid = grid
        if dates is None:  # every whole second in [lo, hi]
            self.first = lo
            self.count = max(0, (hi - lo) // SECOND_US + 1)
            # x(k) = first_x − step·k; 0 for listed dates whose measures are not evenly spaced (searched).
            self.step = SECOND_US // MS_US if grid.unit == "millisecond" else 1
            self.first_x = grid.measure(lo) if self.count else 0
            self.listed: list[int] | None = None
        else:
            self.listed = dates
            self.count = len(dates)
            self.xs = [grid.measure(d) for d in dates]
            self.step = 0
            if self.count > 1 and all(self.xs[i] - self.xs[i + 1] == self.xs[0] - self.xs[1]
                                      for i in range(self.count - 1)):
                self.step = self.xs[0] - self.xs[1]
            self.first_x = self.xs[0] if self.count else 0
            self.index = {x: k for k, x in enumerate(self.xs)}

    def date(self, k: int) -> int:
        return self.listed[k] if self.listed is not None else self.first + k * SECOND_US

    def x(self, k: int) -> int:
        return self.xs[k] if self.listed is not None else self.first_x - self.step * k

    def nearest(self, x: float) -> int:
        """The index whose measure is closest to ``x``."""
        if self.count == 0:
            raise ValueError("no dates")
        if self.step:
            return min(self.count - 1, max(0, round((self.first_x - x) / self.step)))
        return min(range(self.count), key=lambda k: (abs(self.xs[k] - x), k))

    def solve2(self, a1: int, a2: int, target: int, *, max1: int, max2: int, min2: int = 0,
               ordered: bool) -> tuple[int, int] | None:
        """Indices k1 ≤ max1, min2 ≤ k2 ≤ max2 (and k1 ≤ k2 when ``ordered``) with
        a1·x(k1) + a2·x(k2) == target, or None."""
        if max1 < 0 or max2 < min2:
            return None
        if self.step:
            # a1(X − s·k1) + a2(X − s·k2) = T  ⇔  a1·k1 + a2·k2 = (X·(a1 + a2) − T) / s
            rest = self.first_x * (a1 + a2) - target
            if rest % self.step:
                return None
            return _diophantine(a1, a2, rest // self.step, (0, max1), (min2, max2), ordered)
        for k1 in range(0, max1 + 1):
            rest = target - a1 * self.x(k1)
            if rest % a2:
                continue
            k2 = self.index.get(rest // a2)
            if k2 is not None and min2 <= k2 <= max2 and (not ordered or k1 <= k2):
                return k1, k2
        return None


def _extended_gcd(a: int, b: int) -> tuple[int, int, int]:
    """(g, x, y) with a·x + b·y == g == gcd(|a|, |b|)."""
    old_r, r, old_x, x, old_y, y = abs(a), abs(b), 1, 0, 0, 1
    while r:
        quotient = old_r // r
        old_r, r = r, old_r - quotient * r
        old_x, x = x, old_x - quotient * x
        old_y, y = y, old_y - quotient * y
    return old_r, old_x * (1 if a >= 0 else -1), old_y * (1 if b >= 0 else -1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _diophantine(a1: int, a2: int, total: int, box1: tuple[int, int], box2: tuple[int, int],
                 ordered: bool) -> tuple[int, int] | None:
    """Integers k1 ∈ box1, k2 ∈ box2 (k1 ≤ k2 if ``ordered``) with a1·k1 + a2·k2 == total, exact."""
    g, u, v = _extended_gcd(a1, a2)
    if total % g:
        return None
    k1p, k2p = u * (total // g), v * (total // g)
    d1, d2 = a2 // g, -a1 // g  # k1 = k1p + d1·j, k2 = k2p + d2·j
    intervals = [_exact_bounds(d1, k1p, *box1), _exact_bounds(d2, k2p, *box2)]
    if ordered:  # k2 − k1 ≥ 0
        intervals.append(_exact_bounds(d2 - d1, k2p - k1p, 0, None))
    low = max(i[0] for i in intervals)
    high = min(i[1] for i in intervals)
    if low > high:
        return None
    j = (low + high) // 2
    return k1p + d1 * j, k2p + d2 * j


def _exact_bounds(coefficient: int, constant: int, low: int, high: int | None) -> tuple[int, int]:
    """Integer j with low ≤ constant + coefficient·j ≤ high (high None: unbounded)."""
    big = 10**18
    if coefficient == 0:
        ok = low <= constant and (high is None or constant <= high)
        return (-big, big) if ok else (1, 0)
    if coefficient > 0:
        lo = _ceil_div(low - constant, coefficient)
        hi = (high - constant) // coefficient if high is not None else big
    else:
        lo = _ceil_div(high - constant, coefficient) if high is not None else -big
        hi = (low - constant) // coefficient
    return lo, hi


# --------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Candidate:
    calls: tuple[Call, ...]
    achieved: int
    strategy: str


def plan_quantities(truth: Timeline, covered: Timeline, *, quantity: int, pushed_money: int, window_start: int,
                    horizon: int, grid: Grid, prorates: tuple[bool, bool] = (True, True), dip_first: bool = False,
                    max_exact: int = 3, max_days: int = 12) -> SeatPlan:
    """The calls that move the provider from ``quantity`` (billing ``pushed_money``) to the truth.

    ``truth`` and ``covered`` must already be snapped with ``grid.snap`` and start no earlier than
    ``window_start``; ``horizon`` is exclusive (changes at or after it wait). ``prorates`` says whether
    the policy prorates (increases, decreases); ``dip_first`` prefers decreases before increases (a
    policy that invoices increases at once: a removal's credit is then on the invoice the add raises).
    """
    target_quantity = truth.at(horizon - 1)
    delta = target_quantity - quantity
    footprint = tuple(corrections(truth, covered, window_start, horizon))
    start = footprint[0][0] if footprint else window_start
    low, high = truth.value_range(start, horizon)
    # A pass moves the provider from what it holds to what the ledger says; it may pass through
    # quantities in between (the provider already billed the one it holds), never beyond both. A
    # correction of the past may also pass through what the ledger said of that past before (what was
    # billed for it) unless increases are invoiced at once: then no invoice may name seats the ledger
    # no longer says existed.
    if not dip_first:
        old_low, old_high = covered.value_range(start, horizon)
        low, high = min(low, old_low), max(high, old_high)
    bounds = (min(low, quantity), max(high, quantity))
    target = truth.money(window_start, horizon, grid.measure) - pushed_money
    prorating = all(prorates)

    def result(candidate: _Candidate | None) -> SeatPlan:
        calls = candidate.calls if candidate else ()
        residual = target - (candidate.achieved if candidate else 0)
        return SeatPlan(calls, residual, residual if prorating else 0, (start, horizon), bounds, footprint,
                        candidate.strategy if candidate else "none")

    if not any(prorates):
        # Nothing is prorated mid-period: only the quantity the renewal will bill matters.
        date = min(max(horizon - 1, grid.earliest_us), grid.latest_us)
        call = Call(date, target_quantity)
        return result(_Candidate((call,), delta * grid.measure(date), "unprorated") if delta else None)
    if delta == 0 and target == 0:
        return result(None)
    if not prorating:
        # Only one direction is prorated: nothing merges without moving money, so one call per change.
        return result(_sequence(footprint, quantity, grid) if footprint else None)

    candidates: list[_Candidate] = []
    money_explained = (sum(d for _, d in footprint) == delta
                       and sum(d * grid.measure(t) for t, d in footprint) == target)
    limit = max_days if grid.dating == "day" else max_exact
    if money_explained and grid.dating != "now" and len(footprint) <= limit:
        candidates += _per_change(footprint, quantity, grid, bounds)
    if grid.dating == "now":
        if delta:
            call = Call(grid.latest_us, target_quantity)
            candidates.append(_Candidate((call,), delta * grid.measure(grid.latest_us), "at_now"))
    else:
        candidates += _coalesced(quantity, target_quantity, target, bounds, _dates_for(grid, start, horizon), grid,
                                 truth.value_range(start, horizon))
        if not any(c.achieved == target for c in candidates):
            candidates += _at_known_dates(quantity, target_quantity, target, bounds, footprint, grid, horizon)
    if not candidates and delta:
        # No date is allowed (the window lies before the earliest date): the end state at least.
        call = Call(min(max(horizon - 1, grid.earliest_us), grid.latest_us), target_quantity)
        candidates.append(_Candidate((call,), delta * grid.measure(call.date_us), "coalesced"))
    if not candidates:
        return result(None)

    def rank(candidate: _Candidate) -> tuple[int, int, int, bool, list[int]]:
        residual = abs(target - candidate.achieved)
        return (residual, len(candidate.calls), _dip_penalty(candidate.calls, quantity) if dip_first else 0,
                candidate.strategy != "per_change", [c.date_us for c in candidate.calls])

    return result(min(candidates, key=rank))


def _dip_penalty(calls: tuple[Call, ...], quantity: int) -> int:
    """1 when an increase is sent before a decrease (its invoice then cannot use the removal's credit)."""
    seen_increase = False
    for call in calls:
        if call.quantity > quantity:
            seen_increase = True
        elif call.quantity < quantity and seen_increase:
            return 1
        quantity = call.quantity
    return 0


def _in_range(calls: tuple[Call, ...], bounds: tuple[int, int]) -> bool:
    return all(bounds[0] <= call.quantity <= bounds[1] for call in calls)


def _dated(grid: Grid, instant: int, previous: int | None) -> int:
    """The date a change at ``instant`` can carry: within [earliest, latest], never before the previous one
    on a provider whose dates may not go back."""
    date = min(max(instant, grid.earliest_us), grid.latest_us)
    if grid.monotonic and previous is not None:
        date = max(date, previous)
    return date


def _sequence(points: tuple[tuple[int, int], ...], quantity: int, grid: Grid) -> _Candidate:
    calls, achieved, previous = [], 0, None
    for instant, change in points:
        date = _dated(grid, instant, previous)
        quantity += change
        calls.append(Call(date, quantity))
        achieved += change * grid.measure(date)
        previous = date
    return _Candidate(tuple(calls), achieved, "per_change")


def _per_change(footprint: tuple[tuple[int, int], ...], quantity: int, grid: Grid,
                bounds: tuple[int, int]) -> list[_Candidate]:
    """One call per change at its own date, in every order the provider allows that stays in range."""
    orders = [footprint] if grid.monotonic or len(footprint) > 3 else list(permutations(footprint))
    found = [candidate for candidate in (_sequence(tuple(order), quantity, grid) for order in orders)
             if _in_range(candidate.calls, bounds)]
    return found[:6]


def _dates_for(grid: Grid, start: int, horizon: int) -> _Dates:
    low = max(start, grid.earliest_us)
    high = min(horizon - 1, grid.latest_us)
    if grid.dating == "second":
        low = _ceil_div(low, SECOND_US) * SECOND_US
        high = high - high % SECOND_US
        return _Dates(None, grid, lo=low, hi=high)
    dates: list[int] = []
    day = local_midnight_us(low, grid.timezone)
    while day <= high:
        dates.append(max(day, low))
        day = local_midnight_us(day + 26 * 3600 * SECOND_US, grid.timezone)
    return _Dates(dates, grid)


def _intermediates(quantity: int, target: int, bounds: tuple[int, int], truth_range: tuple[int, int]) -> list[int]:
    """Quantities a coalesced plan may pass through, most natural first."""
    low, high = bounds
    wanted = [target - 1, target + 1, quantity + 1, quantity - 1, *truth_range, truth_range[0] + 1,
              truth_range[1] - 1, high, low, high - 1, low + 1, (low + high) // 2]
    seen: list[int] = []
    for value in wanted:
        if low <= value <= high and value not in (quantity, target) and value not in seen:
            seen.append(value)
    return seen


def _coalesced(quantity: int, target_quantity: int, target: int, bounds: tuple[int, int], dates: _Dates,
               grid: Grid, truth_range: tuple[int, int]) -> list[_Candidate]:
    """Plans of one, two or three calls through quantities within ``bounds`` whose money is ``target``:
    exact ones when they exist, else the closest of each shape."""
    if dates.count == 0:
        return []
    last = dates.count - 1
    ordered = grid.monotonic
    found: list[_Candidate] = []

    def add(shape: list[tuple[int, int]]) -> None:  # [(quantity, index)]
        found.append(_shaped(shape, quantity, dates))

    delta = target_quantity - quantity
    if delta:
        k = dates.nearest(target / delta)
        for candidate in sorted({k, max(0, k - 1), min(last, k + 1)}):
            add([(target_quantity, candidate)])
    for middle in _intermediates(quantity, target_quantity, bounds, truth_range):
        a1, a2 = middle - quantity, target_quantity - middle
        solution = dates.solve2(a1, a2, target, max1=last, max2=last, ordered=ordered)
        if solution is not None:
            add([(middle, solution[0]), (target_quantity, solution[1])])
            continue
        # The closest two-call plan: the second date at either end, the first as near as it can be.
        for k2 in {0, last}:
            k1 = dates.nearest((target - a2 * dates.x(k2)) / a1)
            if not ordered or k1 <= k2:
                add([(middle, k1), (target_quantity, k2)])
    if any(c.achieved == target for c in found):
        return found
    three = _three_calls(quantity, target_quantity, target, bounds, dates, ordered, truth_range)
    if three is not None:
        found.append(three)
    return found


def _shaped(shape: list[tuple[int, int]], quantity: int, dates: _Dates) -> _Candidate:
    """The plan that sets each quantity at its date index (``shape``: [(quantity, index)]) and its money."""
    calls = tuple(Call(dates.date(k), q) for q, k in shape)
    achieved, previous = 0, quantity
    for q, k in shape:
        achieved += (q - previous) * dates.x(k)
        previous = q
    return _Candidate(calls, achieved, "coalesced")


def _three_calls(quantity: int, target_quantity: int, target: int, bounds: tuple[int, int], dates: _Dates,
                 ordered: bool, truth_range: tuple[int, int]) -> _Candidate | None:
    """The first exact plan of three calls found, if any (tried when no one- or two-call plan is exact)."""
    last = dates.count - 1
    middles = _intermediates(quantity, target_quantity, bounds, truth_range)
    # Searching a listed (non-arithmetic) domain costs a scan per solve: try fewer last dates there.
    last_dates = _sample(dates.count, 192 if dates.step else 24)
    for first in middles:
        for second in dict.fromkeys([first - 1, first + 1, quantity, *middles]):
            if not bounds[0] <= second <= bounds[1] or second in (first, target_quantity):
                continue
            a1, a2, a3 = first - quantity, second - first, target_quantity - second
            for k3 in last_dates:
                rest = target - a3 * dates.x(k3)
                solution = dates.solve2(a1, a2, rest, max1=k3 if ordered else last, max2=k3 if ordered else last,
                                        ordered=ordered)
                if solution is not None:
                    return _shaped([(first, solution[0]), (second, solution[1]), (target_quantity, k3)], quantity,
                                   dates)
    return None


def _at_known_dates(quantity: int, target_quantity: int, target: int, bounds: tuple[int, int],
                    footprint: tuple[tuple[int, int], ...], grid: Grid, horizon: int) -> list[_Candidate]:
    """Two or three calls on the footprint's own dates, solving for the quantities instead of the dates.

    When dates are few (day policies) or a late fact's correction must pass through the quantities in
    an unusual order (30 → 20 dated day 1, 20 → 60 dated the period start, 60 → 7 dated day 1), fixing
    the dates makes the money linear in the intermediate quantities: one Diophantine equation in them.
    """
    dates = sorted({_dated(grid, instant, None) for instant, _ in footprint}
                   | {min(max(horizon - 1, grid.earliest_us), grid.latest_us)})[:8]
    x = {date: grid.measure(date) for date in dates}
    low, high = bounds
    found: list[_Candidate] = []
    orders = [(a, b) for a in dates for b in dates if a != b and (not grid.monotonic or a < b)]
    for a, b in orders:
        # (v − Q)·x_a + (q − v)·x_b = target  ⇔  v·(x_a − x_b) = target + Q·x_a − q·x_b
        rest, step = target + quantity * x[a] - target_quantity * x[b], x[a] - x[b]
        if step and rest % step == 0 and low <= rest // step <= high and rest // step not in (quantity,
                                                                                           target_quantity):
            middle = rest // step
            found.append(_Candidate((Call(a, middle), Call(b, target_quantity)), target, "coalesced"))
            return found
    for a in dates:
        for b in dates:
            for c in dates:
                if (grid.monotonic and not a <= b <= c) or x[a] == x[b] or x[b] == x[c]:
                    continue
                # v1·(x_a − x_b) + v2·(x_b − x_c) = target + Q·x_a − q·x_c, v1 and v2 within bounds
                solution = _diophantine(x[a] - x[b], x[b] - x[c], target + quantity * x[a] - target_quantity * x[c],
                                        (low, high), (low, high), False)
                if solution is None:
                    continue
                first, second = solution
                if first in (quantity,) or second in (first, target_quantity):
                    continue
                found.append(_Candidate((Call(a, first), Call(b, second), Call(c, target_quantity)), target,
                                        "coalesced"))
                return found
    return found


def _sample(count: int, limit: int) -> list[int]:
    """Indices to try for the last call's date: all of them for short windows, else both ends and a spread."""
    if count <= limit:
        return list(range(count))
    edge = max(1, limit // 3)
    spread = [round(i * (count - 1) / edge) for i in range(edge + 1)]
    return sorted(set(range(edge)) | set(range(count - edge, count)) | set(spread))
