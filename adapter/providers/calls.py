"""What every provider's calls share: the direction of a change, the policy rule for it, the prices a
period bills, which addons a change adds or removes. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from adapter.billing.policy import Addon, Plan, PricePoint
from adapter.providers.base import SubscriptionState


def direction(old: int, new: int) -> str:
    return "increase" if new > old else "decrease"


def rule_for(plan: Plan, change: str) -> str:
    return plan.increase if change == "increase" else plan.decrease


def period_price_day(state: SubscriptionState, plan: Plan, timezone: str | None) -> dt.date:
    """The local date that picks the price in force for the current period (its first day)."""
    zone = ZoneInfo(timezone or plan.timezone)
    start = dt.datetime.fromtimestamp(state.period_start_us / 1_000_000, tz=dt.UTC)
    return start.astimezone(zone).date()


def price_points(state: SubscriptionState, plan: Plan,
                 timezone: str | None) -> tuple[PricePoint, PricePoint | None]:
    """The plan's seat and base-fee prices in force for the subscription's current period."""
    day = period_price_day(state, plan, timezone)
    return plan.seat.at(day), plan.base_fee.at(day) if plan.base_fee else None


def plan_change_direction(old_plan: Plan, new_plan: Plan, state: SubscriptionState, quantity: int,
                          timezone: str | None) -> str:
    """A plan change is an increase when the new plan costs more for the same seats."""
    day = period_price_day(state, new_plan, timezone)

    def cost(plan: Plan) -> int:
        return quantity * plan.seat.at(day).unit_amount + (plan.base_fee.at(day).unit_amount if plan.base_fee else 0)

    return "increase" if cost(new_plan) > cost(old_plan) else "decrease"


@dataclass(frozen=True)
class AddonChange:
    wanted: dict[str, Addon]  # price id → addon, for every addon the subscription should carry
    to_add: list[str]
    to_remove: list[str]
    prorations: set[str]  # the proration rules of the addons that change


def addon_changes(plan: Plan, addons: dict[str, Addon], state: SubscriptionState, *, enabled: tuple[str, ...],
                  timezone: str | None) -> AddonChange | None:
    """Which addon prices to add or remove so the subscription carries exactly ``enabled``; None if it does."""
    day = period_price_day(state, plan, timezone)
    wanted = {addons[addon_id].price.at(day).price_id: addons[addon_id] for addon_id in enabled}
    present = set(state.addon_items)
    to_add = [price for price in wanted if price not in present]
    to_remove = [price for price in present if price not in wanted]
    if not to_add and not to_remove:
        return None
    changed = [wanted[p] for p in to_add] + [a for a in addons.values() if a.price.at(day).price_id in to_remove]
    return AddonChange(wanted, to_add, to_remove, {a.proration for a in changed})
