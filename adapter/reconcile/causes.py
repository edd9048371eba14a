"""Root causes: the leftover lines of one seat change are one difference, and its money is their net.

Matching (``lines``) leaves lines nobody explains: expected lines no mirrored line matches and mirrored
lines no expected line matches, each first reported on its own (``LEFTOVER_KINDS``). Money per line would
count one fault several times: a change billed a day late is a missing line plus an unexpected one, each
worth some twenty days of a seat, where the fault is worth one day. So the leftovers are grouped by the
change they belong to:

- a **change** is the lines of one price over one span (same start, same end within the provider's
  line-end slack): a Stripe credit/debit pair, a Chargebee quantity line, a renewal line. Its expected
  and billed lines together are one difference: ``wrong_proration`` (a renewal: ``wrong_quantity_at_renewal``)
  when both sides are there, else the lines' own kind (a missing pair, an unexplained set of lines).
- a **shift**: the expected lines of a change nobody billed and billed lines of the same price and period
  end that nothing expects, from another instant, moving money the same way, are one ``shifted_change``
  (nearest instants first, each change in one shift at most).

The money of a difference is |billed − expected| over its lines (a pending charge is not billed: it
counts nothing), so every leftover line is in exactly one difference and the report's total is the sum of
the per-cause nets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from adapter.billing.money import format_amount
from adapter.reconcile.differences import LEFTOVER_KINDS, Difference, LineRef, net


@dataclass
class _Change:
    price: str
    start: int
    end: int
    members: list[tuple[int, Difference]] = field(default_factory=list)

    @property
    def lines(self) -> list[LineRef]:
        return [ref for _, d in self.members for ref in d.lines]

    @property
    def side(self) -> str:
        """``expected``, ``actual`` or ``both`` (a member is one side: an expected line or a billed one)."""
        sides = {_side(d) for _, d in self.members}
        return sides.pop() if len(sides) == 1 else "both"

    def amount(self, side: str) -> int:
        return sum(ref.amount for ref in self.lines if ref.side == side)


def _side(d: Difference) -> str:
    return "expected" if any(ref.side == "expected" for ref in d.lines) else "actual"


def groupable(d: Difference) -> bool:
    """A one-sided difference of one leftover line, with the price and span that say which change it is."""
    if d.kind not in LEFTOVER_KINDS or not d.lines or d.price is None:
        return False
    if d.period_start is None or d.period_end is None:
        return False
    sides = {ref.side for ref in d.lines}
    # A line paired with its counterpart (pass 2) is already one cause; a pending credit with no expected
    # line (``credit_not_applied`` after its invoice) is money of its own.
    return "expected" in sides and "actual" not in sides or sides == {"actual"}


def net_by_cause(differences: list[Difference], *, slack: int = 0) -> list[Difference]:
    """``differences`` with every group of leftover lines of one cause replaced by one difference (in the
    place of the group's first line); the rest unchanged, in order."""
    changes: list[_Change] = []
    by_start: dict[tuple[str, int], list[_Change]] = {}
    kept: list[tuple[int, Difference]] = []
    for index, d in enumerate(differences):
        if not groupable(d):
            kept.append((index, d))
            continue
        assert d.price is not None and d.period_start is not None and d.period_end is not None
        same = by_start.setdefault((d.price, d.period_start), [])
        change = next((c for c in same if abs(c.end - d.period_end) <= slack), None)
        if change is None:
            change = _Change(d.price, d.period_start, d.period_end)
            changes.append(change)
            same.append(change)
        change.members.append((index, d))
    for group in _shifts(changes, slack):
        first = min(index for change in group for index, _ in change.members)
        kept.append((first, _difference(group)))
    return [d for _, d in sorted(kept, key=lambda pair: pair[0])]


def _shifts(changes: list[_Change], slack: int) -> list[list[_Change]]:
    """The changes, each alone or paired with the same change billed from another instant."""
    def movable(change: _Change, side: str) -> bool:
        return change.side == side and all(d.kind != "duplicated_proration" for _, d in change.members)

    billed: dict[str, list[_Change]] = {}
    for c in changes:
        if movable(c, "actual"):
            billed.setdefault(c.price, []).append(c)
    candidates = []
    for e in (c for c in changes if movable(c, "expected")):
        for a in billed.get(e.price, ()):
            same = e.price == a.price and abs(e.end - a.end) <= slack and e.start != a.start
            direction = e.amount("expected") * a.amount("actual") > 0  # both charges, or both credits
            if same and direction and min(e.start, a.start) < min(e.end, a.end):
                candidates.append((abs(e.start - a.start), e.start, id(e), id(a), e, a))
    paired: set[int] = set()
    groups: list[list[_Change]] = []
    for *_, e, a in sorted(candidates, key=lambda c: c[:4]):
        if id(e) not in paired and id(a) not in paired:
            paired.update((id(e), id(a)))
            groups.append([e, a])
    groups.extend([c] for c in changes if id(c) not in paired)
    return groups


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _quantity(lines: list[LineRef], side: str) -> int | None:
    """The quantity a side bills for the change: its one charge's (a credit/debit pair: the new count)."""
    own = [ref for ref in lines if ref.side == side]
    charges = [ref for ref in own if ref.amount >= 0]
    pick = charges if len(charges) == 1 else own
    return pick[0].quantity if len(pick) == 1 else None


def _kind(group: list[_Change], lines: list[LineRef]) -> str:
    kinds = {d.kind for change in group for _, d in change.members}
    if len(group) == 2:
        return "shifted_change"
    side = group[0].side
    if side == "both":
        return "wrong_proration" if any(ref.proration for ref in lines if ref.side == "expected") \
            else "wrong_quantity_at_renewal"
    if side == "expected":
        return kinds.pop() if len(kinds) == 1 else "missing_proration"
    return "duplicated_proration" if kinds == {"duplicated_proration"} else "unexpected_line"


def _detail(kind: str, group: list[_Change], lines: list[LineRef], currency: str) -> str:
    signed = net(lines)
    money = format_amount(abs(signed), currency)
    sense = "overbilled" if signed > 0 else "underbilled" if signed < 0 else "same money"
    counts = f"{len(lines)} lines, net {'+' if signed > 0 else '-' if signed < 0 else ''}{money} ({sense})"
    first = group[0]
    if kind == "shifted_change":
        e, a = sorted(group, key=lambda c: c.side != "expected")
        days = (Decimal(a.start - e.start) / 86400).quantize(Decimal("0.01"))
        return (f"the change the ledger dates {_iso(e.start)} was billed from {_iso(a.start)} "
                f"({days:+} days): {counts}")
    if kind in ("wrong_proration", "wrong_quantity_at_renewal"):
        billed = sorted(ref.quantity or 0 for ref in lines if ref.side == "actual")
        wanted = sorted(ref.quantity or 0 for ref in lines if ref.side == "expected")
        return f"the change at {_iso(first.start)} billed quantities {billed}, the ledger's are {wanted}: {counts}"
    if first.side == "expected":
        return f"the change at {_iso(first.start)} is on no mirrored invoice: {counts}"
    return f"lines at {_iso(first.start)} no seat, plan or addon change explains: {counts}"


def _difference(group: list[_Change]) -> Difference:
    members = [d for change in group for _, d in change.members]
    if len(members) == 1:
        return members[0]
    lines = [ref for change in group for ref in change.lines]
    kind = _kind(group, lines)
    expected = [ref for ref in lines if ref.side == "expected"]
    actual = [ref for ref in lines if ref.side == "actual"]
    anchor = next((c for c in group if c.side != "actual"), group[0])
    currency = members[0].currency
    return Difference(
        members[0].account, kind, _detail(kind, group, lines, currency), abs(net(lines)), currency,
        invoice=next((ref.invoice for ref in actual if ref.invoice), None), price=anchor.price,
        period_start=anchor.start, period_end=max(c.end for c in group),
        expected_quantity=_quantity(lines, "expected"), actual_quantity=_quantity(lines, "actual"),
        expected_amount=sum(ref.amount for ref in expected) if expected else None,
        actual_amount=sum(ref.amount for ref in actual) if actual else None, lines=tuple(lines))
