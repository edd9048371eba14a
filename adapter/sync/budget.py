"""When a pass may send: the provider's hourly quantity-update budget, and how soon after a rate limit."""

from __future__ import annotations

from adapter.providers.retry import Failure

HOUR_US = 3600 * 1_000_000


def soon_after(failure: Failure, now: int) -> int | None:
    """A rate limit is over in seconds (the pacer already holds every sender back): try again then,
    not after the minute an outage gets. None: the worker's usual backoff."""
    if failure.status != 429:
        return None
    return now + int(max(failure.retry_after or 0.0, 2.0) * 1_000_000)


def budget_wait(sent_us: list[int], wanted: int, *, limit: int) -> int | None:
    """When ``wanted`` more quantity updates fit in the provider's hourly budget, given when the last
    hour's went out (oldest first); None if they fit now."""
    over = len(sent_us) + wanted - limit
    if over <= 0:
        return None
    if wanted > limit:
        raise ValueError("a plan never needs more calls than the hourly budget")
    return sent_us[over - 1] + HOUR_US + 1
