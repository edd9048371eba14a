"""Seat drift, three ways: the ledger, what seatsync set, what the provider holds."""

from __future__ import annotations

from adapter import accounts, ledger, store
from adapter.billing.policy import Catalog, Plan
from adapter.providers import registry
from adapter.reconcile.differences import Difference, LiveReader
from adapter.reconcile.differences import seat_unit as _seat_unit


def seat_prices(catalog: Catalog, provider: str) -> set[str]:
    prices = set()
    for plan in catalog.plans.values():
        if plan.provider == provider:
            prices.add(plan.seat.price_id)
            prices.update(point.price_id for point in plan.seat.price_changes)
    return prices


def mirror_quantity(db, catalog: Catalog, link: accounts.Account) -> int | None:
    prices = seat_prices(catalog, link.provider)
    for item in store.recon_subscription_items(db, link.provider, link.subscription):
        if item["price"] in prices:
            return item["quantity"]
    return None


def seat_check(db, catalog: Catalog, link: accounts.Account, plan: Plan, *, now_us: int,
               live: LiveReader | None) -> tuple[dict, list[Difference]]:
    """The three quantities and what they say; ``differences`` is empty when they agree or sync is in flight."""
    active = ledger.seat_count(db, link.account, now_us)
    truth = plan.billable_seats(active)
    state = store.sync_state(db, link.account) or {}
    desired = state.get("last_set_quantity")
    provider = live(link, catalog) if live is not None else mirror_quantity(db, catalog, link)
    three = {"ledger": truth, "seatsync": desired, "provider": provider, "source": "live" if live else "mirror"}
    unit = _seat_unit(plan, now_us)
    differences = []
    for letter in store.recon_dead_letters(db, link.account):
        stake = abs(truth - (provider if provider is not None else truth)) * unit
        differences.append(Difference(
            link.account, "never_synced",
            f"dead letter {letter['id']}: {letter['operation']} failed ({letter['status']} {letter['code'] or ''}: "
            f"{letter['reason']}); key {letter['idempotency_key']}", stake, plan.currency,
            expected_quantity=letter["quantity"] if letter["quantity"] is not None else truth,
            actual_quantity=provider))
    in_flight = state.get("ledger_version", 0) > state.get("synced_version", 0) or bool(
        store.planned_calls(db, link.account))
    lifecycle = registry.lifecycle(store.mirror_row(db, "mirror_subscriptions", link.provider, link.subscription))
    three["lifecycle"] = lifecycle.state if lifecycle else None
    if differences or in_flight or (lifecycle is not None and not lifecycle.writable):
        # A cancelled or paused subscription is not synced (sync/lifecycle.py): the ledger may move on.
        return three, differences
    if provider is not None and truth == desired == provider:
        return three, []
    if provider is None:
        detail = "the provider has no seat item for this subscription"
        stake = truth * unit
    else:
        who = ("changed at the provider behind seatsync's back (or its webhook was lost)"
               if desired == truth else "seatsync's last set quantity differs from the ledger")
        detail = f"ledger {truth}, seatsync {desired}, provider ({three['source']}) {provider}: {who}"
        stake = abs(truth - provider) * unit
    return three, [Difference(link.account, "seat_drift", detail, stake, plan.currency, price=None,
                              expected_quantity=truth, actual_quantity=provider)]
