"""The ops pages' charts, from seatsync's data (webhooks/charts.py draws them).

**Seats over time** (the account page, issue 14 item 4): three step lines and the plan changes.

- **ledger**: the seats the policy bills for the account's active users (``Plan.billable_seats`` of the plan
  in force), from the ledger's seat changes;
- **pushed**: the quantity of every seat call seatsync completed at the provider, from the instant it took effect;
- **provider**: what the provider billed, from the mirror: each invoice's seat line from its period start
  (a proration's charge line from the change it prorates), and the mirrored subscription's quantity now.

Where the three lines part, the page shows why (sync lag, a dead letter, a change made at the provider).

**Money at stake per account** (the reconciliation page, issue 14 item 5): the 20 accounts with the largest
net discrepancy, one chart per currency (amounts of two currencies are never drawn on one scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from markupsafe import Markup

from adapter import accounts, ledger, store
from adapter.billing.money import format_amount
from adapter.billing.policy import Catalog
from adapter.clock import from_us
from adapter.reconcile.seats import mirror_quantity, seat_prices

from .charts import Bar, Marker, Series, bar_chart, step_chart

TOP_ACCOUNTS = 20


def _ledger_points(db, catalog: Catalog, account: str, start_us: int, end_us: int) -> tuple[tuple[int, int], ...]:
    def billable(plan_id: str | None, active: int) -> int:
        plan = catalog.plans.get(plan_id or "")
        return plan.billable_seats(active) if plan is not None else active

    plan_id = ledger.plan_at(db, account, start_us)
    active = ledger.seat_count(db, account, start_us)
    points = [(start_us, billable(plan_id, active))]
    steps: dict[int, int] = {}
    for change in ledger.changes(db, account, start_us + 1, end_us):
        steps[change.instant_us] = steps.get(change.instant_us, 0) + (1 if change.active else -1)
    plans = {change.instant_us: change.plan for change in ledger.plan_changes(db, account, start_us + 1, end_us)}
    for instant in sorted(steps.keys() | plans.keys()):
        active += steps.get(instant, 0)
        plan_id = plans.get(instant, plan_id)
        points.append((instant, billable(plan_id, active)))
    return tuple(points)


def _pushed_points(db, account: str) -> tuple[tuple[int, int], ...]:
    # At the instant the call made the quantity effective (its proration date), which is on the provider's
    # clock: a test clock or time machine may be far from the wall clock the call completed at.
    return tuple(sorted((row["effective_us"] or row["completed_us"], row["quantity"])
                        for row in store.timeline_provider_calls(db, account)
                        if row["status"] == "succeeded" and row["quantity"] is not None))


def _provider_points(db, catalog: Catalog, link: accounts.Account, now_us: int,
                     invoice_lines: Sequence[dict]) -> tuple[tuple[int, int], ...]:
    prices = seat_prices(catalog, link.provider)
    points: list[tuple[int, int, int]] = []  # (instant, invoice created, quantity): a later invoice wins a tie
    for line in invoice_lines:
        if line["price"] not in prices or line["quantity"] is None or line["period_start"] is None:
            continue
        if line["proration"] and line["amount"] < 0:
            continue  # the credit for the old quantity; its charge line carries the new one
        points.append((line["period_start"] * 1_000_000, line["created"], line["quantity"]))
    points.sort()
    now = mirror_quantity(db, catalog, link)
    result = [(instant, quantity) for instant, _, quantity in points]
    if now is not None:
        result.append((max(now_us, result[-1][0] if result else now_us), now))
    return tuple(result)


def seats_chart(db, catalog: Catalog, link: accounts.Account, *, since_us: int, until_us: int, now_us: int,
                timezone: str, invoice_lines: Sequence[dict]) -> Markup:
    """``invoice_lines``: the account's mirrored invoice lines as the account page read them (price, quantity,
    period_start, proration, amount, and their invoice's ``created``), not read again here."""
    start_us = max(since_us, link.linked_us)
    end_us = max(start_us + 1, until_us)
    zone = ZoneInfo(timezone)

    def local_date(instant_us: int) -> str:
        return from_us(instant_us).astimezone(zone).strftime("%Y-%m-%d")

    series = (Series("ledger", "ledger (billable seats)", _ledger_points(db, catalog, link.account, start_us, end_us)),
              Series("pushed", "pushed by seatsync", _pushed_points(db, link.account)),
              Series("provider", "provider (mirror)", _provider_points(db, catalog, link, now_us, invoice_lines)))
    markers = [Marker(change.instant_us, change.plan)
               for change in ledger.plan_changes(db, link.account, start_us + 1, end_us)]
    return step_chart(series, start_us=start_us, end_us=end_us, markers=markers, tick_label=local_date,
                      title=f"Seats of {link.account} over time ({timezone})")


def money_charts(by_account: dict[str, dict], href) -> dict[str, Markup]:
    """Currency → a bar chart of the accounts' net money at stake (receivables excluded: their own total)."""
    per_currency: dict[str, list[Bar]] = {}
    for account, entry in by_account.items():
        for currency, amount in entry["money_at_stake"].items():
            if amount:
                per_currency.setdefault(currency, []).append(Bar(account, amount, format_amount(amount, currency)))
    charts = {}
    for currency, bars in sorted(per_currency.items()):
        top = sorted(bars, key=lambda bar: (-abs(bar.value), bar.label))[:TOP_ACCOUNTS]
        charts[currency] = bar_chart(top, title=f"Net money at stake per account, {currency} (top {len(top)})",
                                     href=href)
    return charts
