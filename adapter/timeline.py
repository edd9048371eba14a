"""Seat-count step functions and the corrections that make one equal another.

Seat sync compares two timelines for a subscription's current period: what
the ledger says the quantity was at every instant, and what seatsync has
already told the provider (its pushed calls). A provider prorates a change at
``t`` by ``Δq × (period_end − t)``, so the money billed for a timeline is
``q(start) × full period + Σ Δq_i × (end − t_i)``. Pushing, at every instant
where the two step functions' difference changes, that change in difference
makes the provider's money equal the ledger's exactly (before per-line
rounding), whatever order the events arrived in. A difference already present
at the period start (a late change across a period boundary) is pushed at the
period start.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from typing import Union

# Any totally ordered instant works; seat sync passes integer microseconds, the tests read better in datetimes.
Instant = Union[int, datetime]


@dataclass(frozen=True)
class Timeline:
    """A step function: ``initial`` before the first step, then each (instant, quantity)."""

    initial: int
    steps: tuple[tuple[Instant, int], ...] = ()

    @classmethod
    def from_points(cls, initial: int, points: list[tuple[Instant, int]]) -> "Timeline":
        """Build from unordered points; of several at the same instant the last given wins."""
        by_instant: dict[Instant, int] = {}
        for instant, quantity in points:
            by_instant[instant] = quantity
        return cls(initial, tuple(sorted(by_instant.items())))

    def at(self, instant: Instant) -> int:
        """The quantity in force at ``instant`` (a step at ``instant`` is already in force)."""
        index = bisect_right([s[0] for s in self.steps], instant)
        return self.steps[index - 1][1] if index else self.initial

    def breakpoints(self, start: Instant, end: Instant) -> list[Instant]:
        return [instant for instant, _ in self.steps if start < instant < end]


def corrections(truth: Timeline, pushed: Timeline, start: Instant, end: Instant) -> list[tuple[Instant, int]]:
    """The (instant, delta) changes that turn ``pushed`` into ``truth`` on [start, end).

    The first entry, if any, may be at ``start`` itself: the two disagreed
    when the period began.
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
