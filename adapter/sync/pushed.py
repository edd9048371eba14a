"""Where the provider stands for the current period, as seat sync sees it: what seatsync last set, the
money the provider took this period, and the truth the latest plan stood for (the planner's inputs)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from adapter import store
from adapter.accounts import Account
from adapter.providers.base import Grid
from adapter.sync.timeline import Timeline


@dataclass(frozen=True)
class PushedPosition:
    """Where the provider stands for the current period, as seat sync sees it."""

    grid: Grid
    quantity: int  # what seatsync last set (or found, after a drift)
    money: int  # Σ Δq × measure(date) of everything it took this period, plus residuals knowingly left
    covered: Timeline  # the truth the latest plan of this period stood for (drifts since applied)


def pushed_position(db: sqlite_utils.Database, linked: Account, sync: store.Row, *, start: int, window_start: int,
                    grid: Grid) -> PushedPosition:
    before, events = store.pushed_events(db, linked.account, linked.subscription, start)
    initial = before if before is not None else (sync.get("baseline_quantity") or 0)
    quantity, money, points = initial, initial * grid.measure(window_start), []
    for _, date, value in events:
        money += (value - quantity) * grid.measure(max(date, window_start))
        quantity = value
        points.append((max(grid.snap(date), window_start), value))
    money += store.open_residuals(db, linked.subscription, start)
    batch = store.open_batch(db, linked.subscription, start)
    if batch is None:
        # Nothing planned yet this period (or a database from before plans were recorded): the
        # provider stands for what it was told.
        covered = Timeline.from_points(initial, points)
    else:
        covered = Timeline.from_json(batch["covered"])
        for drift in store.drifts_after(db, linked.account, linked.subscription, batch["last_drift_id"]):
            covered = _shifted(covered, max(grid.snap(drift["detected_us"]), window_start),
                               drift["provider_quantity"] - (drift["expected_quantity"] or 0))
    return PushedPosition(grid, quantity, money, covered)


def _shifted(timeline: Timeline, instant: int, delta: int) -> Timeline:
    """``timeline`` with ``delta`` added from ``instant`` on (a quantity changed behind seatsync's back)."""
    points = [(t, q + delta if t >= instant else q) for t, q in timeline.steps]
    points.append((instant, timeline.at(instant) + delta))
    return Timeline.from_points(timeline.initial, sorted(points))
