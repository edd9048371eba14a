"""Seat-count step functions over integer-microsecond instants, and the corrections between two of them.

Seat sync compares the ledger's billable quantity over the current period with what earlier calls
already stand for (``adapter/seat_plan.py``). A provider prorates a change dated ``t`` by
``Δq × measure(t)`` (the time left after ``t`` in its own unit), so the money of a step function is
linear in its steps: ``q(start) × measure(start) + Σ Δq_i × measure(t_i)``. The corrections between two
step functions are the changes that turn one into the other; their money is the difference of the two.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeline:
    """A step function of integer instants: ``initial`` before the first step, then each (instant, quantity)."""

    initial: int
    steps: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_points(cls, initial: int, points: list[tuple[int, int]]) -> Timeline:
        """Build from unordered points; of several at the same instant the last given wins."""
        by_instant: dict[int, int] = {}
        for instant, quantity in points:
            by_instant[instant] = quantity
        return cls(initial, tuple(sorted(by_instant.items())))

    def at(self, instant: int) -> int:
        """The quantity in force at ``instant`` (a step at ``instant`` is already in force)."""
        index = bisect_right(self.steps, (instant, float("inf")))
        return self.steps[index - 1][1] if index else self.initial

    def breakpoints(self, start: int, end: int) -> list[int]:
        return [instant for instant, _ in self.steps if start < instant < end]

    def snapped(self, snap: Callable[[int], int]) -> Timeline:
        """The same function as a provider records it: every instant moved by ``snap`` (which must not
        reorder instants); several steps landing on one instant keep the last quantity."""
        return Timeline.from_points(self.initial, [(snap(instant), quantity) for instant, quantity in self.steps])

    def value_range(self, start: int, end: int) -> tuple[int, int]:
        """(min, max) of the quantity over [start, end)."""
        values = [self.at(start)] + [quantity for instant, quantity in self.steps if start < instant < end]
        return min(values), max(values)

    def money(self, start: int, end: int, measure: Callable[[int], int]) -> int:
        """``q(start) × measure(start) + Σ Δq × measure(t)`` over the steps in (start, end): what a provider
        prorating by ``measure`` bills for this function from ``start`` on (before per-line rounding)."""
        total = self.at(start) * measure(start)
        previous = self.at(start)
        for instant, quantity in self.steps:
            if start < instant < end:
                total += (quantity - previous) * measure(instant)
                previous = quantity
        return total

    def to_json(self) -> str:
        return json.dumps({"initial": self.initial, "steps": [list(step) for step in self.steps]})

    @classmethod
    def from_json(cls, text: str) -> Timeline:
        data = json.loads(text)
        return cls(int(data["initial"]), tuple((int(t), int(q)) for t, q in data["steps"]))


def corrections(truth: Timeline, pushed: Timeline, start: int, end: int) -> list[tuple[int, int]]:
    """The (instant, delta) changes that turn ``pushed`` into ``truth`` on [start, end).

    The first entry, if any, may be at ``start`` itself: the two disagreed when the window began.
    """
    result = []
    previous = truth.at(start) - pushed.at(start)
    if previous:
        result.append((start, previous))
    for instant in sorted(set(truth.breakpoints(start, end)) | set(pushed.breakpoints(start, end))):
        difference = truth.at(instant) - pushed.at(instant)
        if difference != previous:
            result.append((instant, difference - previous))
            previous = difference
    return result
