"""The workload's money check: what the provider billed each account against billing every ledger change
one by one at its own instant, as the provider dates it, computed exactly (Fractions) from the ledger,
the policy's prices and the provider's own periods (tests/support/workload.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from adapter import ledger
from tests.support import scenarios as S
from tests.support.readback import chargebee_all

UTC = UTC


class OneByOne:
    """Mixed into ``Workload``: needs ``harness``, ``accounts``, ``stats`` and ``clock_at``."""

    def check_money(self) -> None:
        """Each account's billed money against billing every ledger change one by one, as the provider
        dates a change (whole seconds on Stripe, the local midnight for day policies, milliseconds or
        days on Chargebee), computed exactly here from the ledger and the policy's prices, and from the
        provider's own periods; within one minor unit per proration line the provider wrote, once the
        money seat sync recorded as moved (late changes) is added back."""
        for account in self.accounts:
            billed, lines, periods = (self._stripe_money if self.harness.provider == "stripe"
                                      else self._chargebee_money)(account)
            expected = sum((self._one_by_one(account, start, end) for start, end in sorted(periods)), Fraction(0))
            moved = self._moved_money(account)
            error = billed + moved - expected
            self.stats.money_error_lines.append((account.id, error, lines))
            assert abs(error) <= lines, (account.id, float(billed), float(expected), float(moved), lines)

    def _value(self, account, at_us: int, day) -> int:
        """What one whole period at ``at_us`` costs: seats × seat price + base fee, prices of the period's day."""
        db, catalog = self.harness.db, self.harness.catalog
        plan = catalog.plans[ledger.plan_at(db, account.id, at_us) or account.plan_id]
        seats = plan.billable_seats(ledger.seat_count(db, account.id, at_us))
        return seats * plan.seat.at(day).unit_amount + (plan.base_fee.at(day).unit_amount if plan.base_fee else 0)

    def _one_by_one(self, account, start_us: int, end_us: int) -> Fraction:
        db, catalog = self.harness.db, self.harness.catalog
        plan = catalog.plans[account.plan_id]
        zone = ZoneInfo(plan.timezone if self.harness.provider == "chargebee" else plan.timezone)
        day = datetime.fromtimestamp(start_us / 1e6, tz=UTC).astimezone(zone).date()
        total = Fraction(self._value(account, start_us, day))
        if plan.increase == "at_renewal" and plan.decrease == "at_renewal":
            return total
        until = min(end_us, S.to_us(self.clock_at) + 1)
        instants = sorted({c.instant_us for c in ledger.changes(db, account.id, start_us + 1, until)}
                          | {c.instant_us for c in ledger.plan_changes(db, account.id, start_us + 1, until)})
        # One by one: each change prorated from the instant the provider can date it at.
        dated: dict[int, int] = {}
        for instant in instants:
            dated[max(self._snap(plan, instant), start_us)] = instant  # the last change of a unit decides
        previous = self._value(account, start_us, day)
        length = self._measure(plan, start_us, start_us, end_us)
        for date in sorted(dated):
            value = self._value(account, dated[date], day)
            total += Fraction((value - previous) * self._measure(plan, date, start_us, end_us), length)
            previous = value
        return total

    def _snap(self, plan, instant_us: int) -> int:
        if plan.proration == "day":
            local = datetime.fromtimestamp(instant_us / 1e6, tz=UTC).astimezone(ZoneInfo(plan.timezone))
            return S.to_us(datetime(local.year, local.month, local.day, tzinfo=local.tzinfo).astimezone(UTC))
        if self.harness.provider == "stripe":
            return instant_us - instant_us % 1_000_000
        return instant_us - instant_us % 1000

    def _measure(self, plan, date_us: int, start_us: int, end_us: int) -> int:
        if self.harness.provider == "chargebee" and plan.proration == "day":
            zone = ZoneInfo(plan.timezone)
            last = datetime.fromtimestamp((end_us - 1) / 1e6, tz=UTC).astimezone(zone).date()
            return (last - datetime.fromtimestamp(date_us / 1e6, tz=UTC).astimezone(zone).date()).days + 1
        if self.harness.provider == "chargebee":
            return (end_us - date_us) // 1000
        return (end_us - date_us) // 1_000_000

    def _moved_money(self, account) -> Fraction:
        return sum((Fraction(row["amount"], row["period_units"]) for row in self.harness.db.query(
            "SELECT * FROM late_changes WHERE account = ? AND amount IS NOT NULL", [account.id])), Fraction(0))

    def _stripe_money(self, account) -> tuple[int, int, set[tuple[int, int]]]:
        client = self.harness.client
        billed = lines = 0
        periods: set[tuple[int, int]] = set()
        for invoice in client.v1.invoices.list({"customer": account.customer, "limit": 100}).auto_paging_iter():
            for line in invoice.to_dict()["lines"]["data"]:
                billed += int(line["amount"])
                parent = line.get("parent") or {}
                proration = any((parent.get(kind) or {}).get("proration")
                                for kind in ("subscription_item_details", "invoice_item_details"))
                if proration:
                    lines += 1
                else:
                    periods.add((int(line["period"]["start"]) * 1_000_000, int(line["period"]["end"]) * 1_000_000))
        for item in client.v1.invoice_items.list({"customer": account.customer, "pending": True,
                                                  "limit": 100}).auto_paging_iter():
            billed += int(item.amount)
            lines += 1
        return billed, lines, periods

    def _chargebee_money(self, account) -> tuple[int, int, set[tuple[int, int]]]:
        self.harness.subscription = account.subscription
        money = S.chargebee_money(self.harness)
        day_mode = self.harness.catalog.plans[account.plan_id].proration == "day"
        billed = lines = 0
        periods: set[tuple[int, int]] = set()
        for invoice in money.invoices + [{"line_items": [], "date": None}]:
            for line in invoice["line_items"]:
                billed += int(line["amount"])
                full = int(line["amount"]) == int(line["unit_amount"]) * int(line["quantity"]) and \
                    int(line["date_from"]) == int(invoice["date"])
                if full:
                    end = int(line["date_to"]) + (1 if day_mode else 0)
                    periods.add((int(line["date_from"]) * 1_000_000, end * 1_000_000))
                else:
                    lines += 1
        for raw in chargebee_all(self.harness.client.Invoice.list, {"subscription_id": {"is": account.subscription}},
                                 "invoice"):
            if raw.get("first_invoice"):
                for line in raw["line_items"]:
                    billed += int(line["amount"])
                    end = int(line["date_to"]) + (1 if day_mode else 0)
                    periods.add((int(line["date_from"]) * 1_000_000, end * 1_000_000))
        for charge in money.unbilled:
            billed += int(charge["amount"])
            lines += 1
        for note in money.credit_notes:
            for line in note["line_items"]:
                billed -= int(line["amount"])
                lines += 1
        return billed, lines, periods

