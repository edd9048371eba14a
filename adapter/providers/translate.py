"""Policy + change → the provider call that carries it out, through the subscription's provider. Pure.

Each provider builds its own calls (``stripe/calls.py``, ``chargebee/calls.py``); this module hands a
change to the right one and renders the policy-to-provider table in ARCHITECTURE.md from the
providers' own dictionaries (``tests/providers/test_translate.py`` checks the document agrees), so the table
and the code cannot drift apart.
"""

from __future__ import annotations

import datetime as dt

from adapter.billing.policy import Addon, Plan
from adapter.providers import registry
from adapter.providers.base import CallSpec, SubscriptionState, TranslateError
from adapter.providers.calls import direction, period_price_day, rule_for

__all__ = ["CallSpec", "SubscriptionState", "TranslateError", "addons_call", "direction", "period_price_day",
           "plan_change_call", "policy_table", "price_change_call", "quantity_call", "rule_for",
           "subscription_after_plan_change", "threshold_call"]


def quantity_call(plan: Plan, state: SubscriptionState, *, old: int, new: int, effective_us: int,
                  backdate_us: int | None = None) -> CallSpec:
    """Set the seat quantity to ``new`` as of ``effective_us``, under the plan's rule for that direction.
    ``backdate_us``: a provider that cannot take a proration date may backdate to it instead."""
    return registry.get(state.provider).quantity_call(plan, state, old=old, new=new, effective_us=effective_us,
                                                      backdate_us=backdate_us)


def plan_change_call(old_plan: Plan, new_plan: Plan, state: SubscriptionState, *, quantity: int,
                     effective_us: int, timezone: str | None = None) -> CallSpec:
    """Swap the seat and base-fee prices in one update, keeping the quantity."""
    return registry.get(state.provider).plan_change_call(old_plan, new_plan, state, quantity=quantity,
                                                         effective_us=effective_us, timezone=timezone)


def subscription_after_plan_change(state: SubscriptionState, new_plan: Plan,
                                   timezone: str | None) -> SubscriptionState:
    """The subscription as ``plan_change_call`` leaves it (later calls of the pass are planned against it)."""
    return registry.get(state.provider).after_plan_change(state, new_plan, timezone)


def addons_call(plan: Plan, addons: dict[str, Addon], state: SubscriptionState, *, enabled: tuple[str, ...],
                seats: int, effective_us: int, timezone: str | None = None) -> CallSpec | None:
    """Add or remove addon prices so the subscription carries exactly ``enabled``; None if it already does."""
    return registry.get(state.provider).addons_call(plan, addons, state, enabled=enabled, seats=seats,
                                                    effective_us=effective_us, timezone=timezone)


def threshold_call(plan: Plan, state: SubscriptionState) -> CallSpec | None:
    """For threshold policies: invoice the accumulated prorations once they surpass the amount (seed 002:
    "surpasses", so strictly greater than). The provider reads the pending total when the call runs."""
    return registry.get(state.provider).threshold_call(plan, state)


def price_change_call(plan: Plan, state: SubscriptionState, *, quantity: int, day: dt.date,
                      timezone: str | None = None) -> CallSpec | None:
    """Move the subscription to the prices in force on ``day`` from its next renewal (None: not on this provider)."""
    return registry.get(state.provider).price_change_call(plan, state, quantity=quantity, day=day, timezone=timezone)


def policy_table() -> str:
    """The policy-to-provider table, as Markdown, for ARCHITECTURE.md."""
    columns = [column for provider in registry.providers() for column in provider.policy_columns()]
    rows = ["| Direction | Policy rule | " + " | ".join(header for header, _ in columns) + " |",
            "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    for key in columns[0][1]:
        rows.append(f"| {key[0]} | `{key[1]}` | " + " | ".join(f"`{values[key]}`" for _, values in columns) + " |")
    return "\n".join(rows)
