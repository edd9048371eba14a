"""What reconciliation reports: the kinds of difference, one difference, the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from adapter import accounts
from adapter.billing.expected import Expectation
from adapter.billing.policy import Catalog, Plan
from adapter.clock import format_us, from_us

KINDS = {
    "seat_drift": "seat count differs between ledger, seatsync and provider",
    "never_synced": "seat change never synced (dead letter)",
    "late_change": "a change seatsync knowingly billed late (across a period boundary, or from another instant)",
    "shifted_change": "a seat change billed at another instant than the ledger's (its lines netted)",
    "wrong_proration": "a seat change billed with other quantities or amounts (its lines netted)",
    "missing_proration": "missing proration",
    "unexpected_line": "unexpected line",
    "wrong_amount": "wrong amount",
    "wrong_quantity_at_renewal": "wrong quantity at renewal",
    "duplicated_proration": "duplicated proration",
    "credit_not_applied": "credit not applied",
    "threshold_not_invoiced": "threshold passed but not invoiced",
    "invoice_unpaid": "invoice unpaid or past due",
    "invoice_missing": "expected invoice not in the mirror",
    "price_change_not_applied": "renewal billed at the price before an announced price change",
    "unlinked_seats": "seat events for an account never linked: seats nobody bills",
}
DEFAULT_TOLERANCE = 1
# Money the customer owes on an invoice that is right: a receivable, totalled apart from billing
# discrepancies (money billed wrong), never added to them.
RECEIVABLE_KINDS = frozenset({"invoice_unpaid"})


# The kinds a leftover line (an expected line nobody billed, a billed line nothing expects) is reported as,
# one line at a time; ``causes.net_by_cause`` then makes the lines of one root cause one difference.
LEFTOVER_KINDS = frozenset({"missing_proration", "unexpected_line", "duplicated_proration", "credit_not_applied",
                            "wrong_quantity_at_renewal"})


class ReconcileError(Exception):
    """Reconciliation cannot run (unknown account, bad window); the message says why."""


@dataclass(frozen=True)
class LineRef:
    """One line a difference stands for: ``expected`` (the engine's), ``actual`` (billed: an invoice or
    credit-note line) or ``pending`` (a pending charge the mirror shows, not billed, so never money)."""

    side: str  # expected | actual | pending
    price: str | None
    period_start: int | None  # unix seconds
    period_end: int | None
    quantity: int | None
    amount: int  # signed minor units
    proration: bool = False
    id: str | None = None  # actual and pending lines: the provider's line id
    invoice: str | None = None  # the invoice or credit note holding an actual line


def net(lines: tuple[LineRef, ...] | list[LineRef]) -> int:
    """Billed minus expected over ``lines``, signed (pending charges are not billed: they count nothing)."""
    return sum(ref.amount for ref in lines if ref.side == "actual") \
        - sum(ref.amount for ref in lines if ref.side == "expected")


@dataclass(frozen=True)
class Difference:
    account: str
    kind: str
    detail: str
    money_at_stake: int = 0  # minor units, >= 0
    currency: str = ""
    invoice: str | None = None
    line: str | None = None
    price: str | None = None
    period_start: int | None = None  # unix seconds
    period_end: int | None = None
    expected_quantity: int | None = None
    actual_quantity: int | None = None
    expected_amount: int | None = None
    actual_amount: int | None = None
    # Every line this difference stands for, each line in exactly one difference (money counted once).
    lines: tuple[LineRef, ...] = ()

    def as_dict(self) -> dict:
        # asdict keeps the lines tuple a tuple; JSON (and its schema) wants an array.
        fields = asdict(self)
        fields["lines"] = list(fields["lines"])
        return fields

    @property
    def net(self) -> int:
        """Billed minus expected, signed, over the lines it stands for (a paired line: actual − expected)."""
        if self.lines:
            return net(self.lines)
        return (self.actual_amount or 0) - (self.expected_amount or 0)


@dataclass
class Report:
    since_us: int
    until_us: int
    accounts: int = 0
    invoices: int = 0
    lines: int = 0  # expected lines in the window
    actual_lines: int = 0  # mirrored invoice and credit-note lines in the window
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The engine's bill per account, as checked (the ops account page shows it beside the mirror). Kept
    # only when asked (one account): a full run holds nothing per account once the account is done.
    expectations: dict[str, Expectation] = field(default_factory=dict, repr=False)
    keep_expectations: bool = field(default=False, repr=False)

    @property
    def by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(d.kind for d in self.differences).items()))

    def _totals(self, receivable: bool) -> dict[str, int]:
        totals: dict[str, int] = {}
        for d in self.differences:
            # A difference with no price (unlinked seats of an unknown plan) has no currency: no money to add.
            if (d.kind in RECEIVABLE_KINDS) == receivable and d.currency:
                totals[d.currency] = totals.get(d.currency, 0) + d.money_at_stake
        return dict(sorted(totals.items()))

    @property
    def money_at_stake(self) -> dict[str, int]:
        """Billing discrepancies per currency (receivables excluded)."""
        return self._totals(False)

    @property
    def receivables(self) -> dict[str, int]:
        """Owed on unpaid invoices per currency."""
        return self._totals(True)

    @property
    def by_account(self) -> dict[str, dict]:
        """Per account with differences: their count, and the discrepancy and receivable totals per currency
        (each the sum of the account's differences' money: per cause, counted once)."""
        out: dict[str, dict] = {}
        for d in self.differences:
            entry = out.setdefault(d.account, {"differences": 0, "money_at_stake": {}, "receivables": {}})
            entry["differences"] += 1
            if d.currency:
                totals = entry["receivables" if d.kind in RECEIVABLE_KINDS else "money_at_stake"]
                totals[d.currency] = totals.get(d.currency, 0) + d.money_at_stake
        for entry in out.values():
            entry["money_at_stake"] = dict(sorted(entry["money_at_stake"].items()))
            entry["receivables"] = dict(sorted(entry["receivables"].items()))
        return dict(sorted(out.items()))

    def flagged_lines(self) -> dict[str, str]:
        """Mirrored line id → the kind of the difference that stands for it (every line of a netted cause)."""
        flagged: dict[str, str] = {}
        for d in self.differences:
            for line_id in [d.line, *(ref.id for ref in d.lines)]:
                if line_id:
                    flagged.setdefault(line_id, d.kind)
        return flagged

    @property
    def clean(self) -> bool:
        return not self.differences and not self.errors

    def summary(self) -> dict:
        return {"since": format_us(self.since_us), "until": format_us(self.until_us), "accounts": self.accounts,
                "invoices": self.invoices, "lines": self.lines,
                "actual_lines": self.actual_lines, "differences": len(self.differences),
                "by_kind": self.by_kind, "money_at_stake": self.money_at_stake, "receivables": self.receivables,
                "by_account": self.by_account, "errors": self.errors}

    def as_dict(self) -> dict:
        return {"summary": self.summary(), "differences": [d.as_dict() for d in self.differences]}


# A provider's seat quantity right now, for ``live``: (account link, catalog) -> quantity or None.
LiveReader = Callable[[accounts.Account, Catalog], "int | None"]


def seat_unit(plan: Plan, at_us: int) -> int:
    """One seat's price for a whole period in force at ``at_us`` (what a seat of drift puts at stake)."""
    return plan.seat.at(from_us(at_us).date()).unit_amount
