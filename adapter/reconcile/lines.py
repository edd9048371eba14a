"""Invoice lines: the engine's expected lines against the mirror's, matched, classified and folded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from adapter import accounts, ledger, store
from adapter.billing.engine import ExpectedLine
from adapter.billing.expected import ExpectationError, expected_bill
from adapter.billing.money import format_amount, round_minor
from adapter.billing.policy import Catalog, Plan
from adapter.clock import format_us, to_us
from adapter.providers import registry
from adapter.reconcile.causes import net_by_cause
from adapter.reconcile.differences import Difference, LineRef, LiveReader, Report
from adapter.reconcile.differences import seat_unit as _seat_unit
from adapter.reconcile.seats import seat_check

# ---------------------------------------------------------------- invoice lines


def _seconds(us: int) -> int:
    return us // 1_000_000


def _key(price, start, end, quantity, credit) -> tuple:
    return (price, start, end, quantity, credit)


@dataclass
class _Actual:
    row: dict
    invoice: str
    source: str  # invoice | credit_note | pending
    _keys: list[tuple] | None = field(default=None, repr=False, compare=False)

    @property
    def credit(self) -> bool:
        return self.row["amount"] < 0

    def keys(self, provider: str) -> list[tuple]:
        # Computed once: the matching passes ask for them per candidate line.
        if self._keys is None:
            row = self.row
            ends = [row["period_end"]]
            slack = registry.get(provider).line_end_slack_seconds
            if slack and row["period_end"] is not None:
                ends.append(row["period_end"] + slack)  # a shown end before the period's end
            self._keys = [_key(row["price"], row["period_start"], end, row["quantity"], self.credit) for end in ends]
        return self._keys


@lru_cache(maxsize=65536)
def _expected_key(line: ExpectedLine) -> tuple:
    # Expected lines are frozen values; the passes ask for the same line's key many times.
    return _key(line.price_id, _seconds(to_us(line.period_start)),
                _seconds(to_us(line.period_end)), line.quantity, line.amount < 0)


def _credit_note_lines(note: dict) -> list[dict]:
    """A Chargebee credit note's lines as negative actual lines (the mirror keeps them in ``raw``)."""
    raw = json.loads(note["raw"])
    rows = []
    for index, line in enumerate(raw.get("line_items") or []):
        rows.append({"id": line.get("id") or f"{note['id']}:{index}", "price": line.get("entity_id"),
                     "period_start": line.get("date_from"), "period_end": line.get("date_to"),
                     "quantity": line.get("quantity"), "amount": -abs(line.get("amount") or 0),
                     "proration": 1, "description": line.get("description")})
    return rows


def _window_instant(line: ExpectedLine, provider: str) -> int:
    # A provider that issues a credit note at the change itself (Chargebee), whatever the billing rule says
    # about when the credit is used: its credits are windowed by the change, everything else by its billing.
    at_change = registry.get(provider).credits_issued_at_change and line.amount < 0
    instant = line.changed_at if at_change else line.billed_at
    return to_us(instant)


def _account(db, catalog: Catalog, link: accounts.Account, report: Report, *, until_us: int, tolerance: int,
             now_us: int, live: LiveReader | None) -> None:
    """One account's window ``[report.since_us, until_us)`` (it ends at the account's now) and its drift at
    ``now_us`` (its provider's clock when it has one, ``report.py``)."""
    since_us = report.since_us
    if until_us <= link.linked_us:
        # Linked at or after the window's end: nothing of it is billed in the window; its seats are still
        # checked now.
        plan = catalog.plans.get(ledger.plan_at(db, link.account, now_us) or link.plan)
        if plan is None:
            raise ExpectationError(f"account {link.account!r} is on a plan that is not in the catalogue")
        report.differences.extend(seat_check(db, catalog, link, plan, now_us=now_us, live=live)[1])
        return
    lifecycle = registry.lifecycle(store.mirror_row(db, "mirror_subscriptions", link.provider, link.subscription))
    ends_us = lifecycle.at_us if lifecycle is not None and lifecycle.state == "cancelled" else None
    # Only lines from ``since_us`` on are compared: the engine starts at the period holding it (a month
    # costs a month, not the history).
    expectation = expected_bill(db, catalog, link, until_us, ends_us=ends_us, since_us=since_us)
    if report.keep_expectations:
        report.expectations[link.account] = expectation
    plan, provider = expectation.plan, link.provider
    facts = registry.get(provider)
    currency = plan.currency
    out = report.differences

    _, seat_differences = seat_check(db, catalog, link, plan, now_us=now_us, live=live)
    out.extend(seat_differences)  # drift is a question about now, whatever the window
    first_line_difference = len(out)

    link_s = _seconds(link.linked_us)
    after_s = max(link_s, -(-since_us // 1_000_000) - 1)
    until_s = -(-until_us // 1_000_000)
    expected = [line for line in expectation.bill.lines
                if since_us <= _window_instant(line, provider) < until_us
                and _seconds(to_us(line.billed_at)) > link_s]

    invoices, actual = _actual_lines(db, link, report, after_s, until_s, currency, out)
    report.lines += len(expected)
    report.actual_lines += len(actual)

    left_expected, left_actual, matched_keys = _match_exact(link, expected, actual, currency, tolerance, out)
    _match_one_field_wrong(catalog, link, left_expected, left_actual, currency, out)
    if facts.reshapes_open_charges:
        _reshaped(left_expected, left_actual, tolerance)
    _invoiced_early(link, expectation.bill.pending, left_actual, tolerance)
    _leftover_actual(link, left_actual, matched_keys, currency, out)

    pending = [_Actual(row, "", "pending") for row in store.recon_pending_charges(db, provider, link.subscription)]
    _leftover_expected(link, left_expected, expected, pending, currency, out)

    if facts.credits_issued_at_change:
        _credit_notes_applied(db, link, invoices, currency, since_us, out)
    else:
        _pending_credits_unapplied(link, pending, invoices, min(now_us, until_us), currency, out)
    late = store.recon_late_changes(db, link.account, since_us, until_us)
    _fold_across_period(link, plan, [row for row in late if row["kind"] == "across_period"], out,
                        first_line_difference)
    # Every leftover line is in one difference; the lines of one cause are one, with their net.
    out[first_line_difference:] = net_by_cause(out[first_line_difference:], slack=facts.line_end_slack_seconds)
    _fold_billed_late(link, plan, [row for row in late if row["kind"] != "across_period"], out,
                      first_line_difference)


def _actual_lines(db, link: accounts.Account, report: Report, after_s: int, until_s: int, currency: str,
                  out: list[Difference]) -> tuple[list[dict], list[_Actual]]:
    """The window's mirrored invoices and their lines (with credit notes' where the provider issues them at
    the change); an unpaid invoice is a difference of its own."""
    provider = link.provider
    facts = registry.get(provider)
    actual: list[_Actual] = []
    invoices = store.recon_invoices(db, provider, link.subscription, after_s, until_s)
    for invoice in invoices:
        report.invoices += 1
        for row in store.recon_invoice_lines(db, provider, invoice["id"]):
            actual.append(_Actual(row, invoice["id"], "invoice"))
        due = facts.amount_owed(invoice)
        if invoice["status"] in facts.unpaid_statuses and due > 0:
            out.append(Difference(link.account, "invoice_unpaid",
                                  f"invoice {invoice['id']} is {invoice['status']} with "
                                  f"{format_amount(due, currency)} due",
                                  due, currency, invoice=invoice["id"], expected_amount=0, actual_amount=due))
    if facts.credits_issued_at_change:
        for note in store.recon_credit_notes(db, provider, link.subscription, _seconds(link.linked_us), until_s):
            for row in _credit_note_lines(note):
                actual.append(_Actual(row, note["id"], "credit_note"))
    return invoices, actual


def _match_exact(link: accounts.Account, expected: list[ExpectedLine], actual: list[_Actual], currency: str,
                 tolerance: int, out: list[Difference]) -> tuple[list[ExpectedLine], list[_Actual], set[tuple]]:
    """Pass 1: exact key (price, period, quantity, sign); amounts within tolerance.

    Returns the expected and actual lines left unmatched, and the keys that matched."""
    by_key: dict[tuple, list[ExpectedLine]] = {}
    for line in expected:
        by_key.setdefault(_expected_key(line), []).append(line)
    matched_keys: set[tuple] = set()
    left_actual: list[_Actual] = []
    for item in actual:
        for key in item.keys(link.provider):
            if by_key.get(key):
                line = by_key[key].pop(0)
                matched_keys.add(key)
                if abs(item.row["amount"] - line.amount) > tolerance:
                    out.append(_diff(link, "wrong_amount", line, item, currency,
                                     f"amount {item.row['amount']}, expected {line.amount} "
                                     f"(tolerance {tolerance})"))
                break
        else:
            left_actual.append(item)
    left_expected = [line for lines in by_key.values() for line in lines]
    return left_expected, left_actual, matched_keys


def _match_one_field_wrong(catalog: Catalog, link: accounts.Account, left_expected: list[ExpectedLine],
                           left_actual: list[_Actual], currency: str, out: list[Difference]) -> None:
    """Pass 2: the same line with one field wrong (quantity at renewal, or price); both sides leave the lists."""
    # The candidates of an actual line are the expected lines of the same period and sign, in their order:
    # indexed once instead of scanning every leftover expected line per actual line.
    by_period: dict[tuple, list[int]] = {}
    for index, line in enumerate(left_expected):
        start, end = _expected_key(line)[1:3]
        by_period.setdefault((start, end, line.amount < 0), []).append(index)
    taken: set[int] = set()
    for item in list(left_actual):
        row = item.row
        spans = {(k[1], k[2], item.credit) for k in item.keys(link.provider)}
        candidates = sorted({index for span in spans for index in by_period.get(span, ()) if index not in taken})
        for index in candidates:
            line = left_expected[index]
            if line.price_id == row["price"] and not line.proration and line.quantity != row["quantity"]:
                out.append(_diff(link, "wrong_quantity_at_renewal", line, item, currency,
                                 f"billed {row['quantity']} at renewal, the ledger had {line.quantity}"))
            elif line.price_id != row["price"] and line.quantity == row["quantity"] \
                    and _superseded(catalog, line.price_id, row["price"]):
                out.append(_diff(link, "price_change_not_applied", line, item, currency,
                                 f"billed at {row['price']} ({row['amount']}), but the price change to "
                                 f"{line.price_id} is in force from this period ({line.amount}): the "
                                 f"subscription is still on the old price"))
            elif line.price_id != row["price"] and line.quantity == row["quantity"]:
                out.append(_diff(link, "wrong_amount", line, item, currency,
                                 f"price {row['price']}, expected {line.price_id}: amount {row['amount']}, "
                                 f"expected {line.amount}"))
            else:
                continue
            taken.add(index)
            left_actual.remove(item)
            break
    left_expected[:] = [line for index, line in enumerate(left_expected) if index not in taken]


def _invoiced_early(link: accounts.Account, pending: tuple[ExpectedLine, ...], left_actual: list[_Actual],
                    tolerance: int) -> None:
    """An invoiced line that is exactly a line the policy still expects pending (the provider invoiced it
    before its time, e.g. an invoice created by hand): the money is right, so it is matched, not unexpected.
    The policies here do not care when a correct line is invoiced, so nothing is reported."""
    by_key: dict[tuple, list[ExpectedLine]] = {}
    for line in pending:
        by_key.setdefault(_expected_key(line), []).append(line)
    for item in list(left_actual):
        for key in item.keys(link.provider):
            lines = by_key.get(key)
            if lines and abs(item.row["amount"] - lines[0].amount) <= tolerance:
                lines.pop(0)
                left_actual.remove(item)
                break


def _leftover_actual(link: accounts.Account, left_actual: list[_Actual], matched_keys: set[tuple], currency: str,
                     out: list[Difference]) -> None:
    """Leftover actual lines: a proration the policy already explains once is a duplicate."""
    for item in left_actual:
        proration = bool(item.row.get("proration")) or item.source == "credit_note"
        if proration and any(key in matched_keys for key in item.keys(link.provider)):
            out.append(_diff(link, "duplicated_proration", None, item, currency,
                             f"a second {'credit' if item.credit else 'charge'} for the same change"))
        else:
            out.append(_diff(link, "unexpected_line", None, item, currency,
                             f"{item.row.get('description') or 'line'}: no seat, plan or addon change explains it"))


def _leftover_expected(link: accounts.Account, left_expected: list[ExpectedLine], expected: list[ExpectedLine],
                       pending: list[_Actual], currency: str, out: list[Difference]) -> None:
    """Leftover expected lines, against what the mirror still shows pending (explained ones leave ``pending``).

    When nothing due at one instant is on any mirrored invoice, that is one difference about the invoice
    (a threshold never invoiced, or an invoice the mirror never got), whatever the mirror still shows as
    pending: the invoice that would have swept it is what is missing.
    """
    groups: dict = {}
    for line in left_expected:
        groups.setdefault(line.billed_at, []).append(line)
    for instant, lines in sorted(groups.items()):
        if len(lines) == sum(1 for line in expected if line.billed_at == instant):
            out.append(_invoice_not_seen(link, lines, pending, currency))
            continue
        for line in lines:
            item = _take_pending(link, line, pending)
            if item is not None:
                kind = "credit_not_applied" if line.amount < 0 else "missing_proration"
                out.append(_diff(link, kind, line, item, currency,
                                 f"still pending; due {line.billed} at {line.billed_at.isoformat()}",
                                 stake=abs(line.amount)))
            else:
                kind = "missing_proration" if line.proration else "wrong_quantity_at_renewal"
                out.append(_diff(link, kind, line, None, currency, "no line on any mirrored invoice"))


def _take_pending(link: accounts.Account, line: ExpectedLine, pending: list[_Actual]) -> _Actual | None:
    """The pending charge standing for ``line``, removed from ``pending``; None if there is none."""
    item = next((p for p in pending if _expected_key(line) in p.keys(link.provider)), None)
    if item is not None:
        pending.remove(item)
    return item


def _invoice_not_seen(link: accounts.Account, lines: list[ExpectedLine], pending: list[_Actual],
                      currency: str) -> Difference:
    """One difference for every line due at one instant when none of them is on a mirrored invoice."""
    instant = lines[0].billed_at
    total = sum(line.amount for line in lines)
    refs: list[LineRef] = []
    for line in lines:  # what the mirror still shows pending is explained by this difference
        refs.extend(_refs(line, _take_pending(link, line, pending)))
    if lines[0].billed == "threshold":
        return Difference(link.account, "threshold_not_invoiced",
                          f"the gathered prorations passed the threshold at {instant.isoformat()} "
                          f"but {len(lines)} lines were not invoiced", abs(total), currency,
                          expected_amount=total, lines=tuple(refs))
    return Difference(link.account, "invoice_missing",
                      f"no mirrored invoice bills the {len(lines)} lines due {instant.isoformat()} "
                      f"({lines[0].billed}); a dropped webhook? `seatsync backfill` or the sweeper "
                      f"recovers it", abs(total), currency, expected_amount=total, lines=tuple(refs))


def _pending_credits_unapplied(link: accounts.Account, pending: list[_Actual], invoices: list[dict], horizon_us: int,
                               currency: str, out: list[Difference]) -> None:
    """A credit still pending after an invoice that should have used it (providers with pending credits)."""
    for item in pending:
        row = item.row
        if row["amount"] < 0 and row["period_end"] is not None and row["period_end"] * 1_000_000 <= horizon_us \
                and any(i["created"] >= row["period_end"] for i in invoices):
            out.append(_diff(link, "credit_not_applied", None, item, currency,
                             "a credit still pending after the invoice it was due on",
                             stake=abs(row["amount"])))


def _superseded(catalog: Catalog, expected_price: str, actual_price: str) -> bool:
    """Whether ``actual_price`` is an earlier point of the same dated price as ``expected_price``."""
    for plan in catalog.plans.values():
        for price in (plan.seat, plan.base_fee):
            if price is None or expected_price not in price.ids or actual_price not in price.ids:
                continue
            return price.ids.index(actual_price) < price.ids.index(expected_price)
    return False


LINE_KINDS = ("missing_proration", "unexpected_line", "wrong_amount", "wrong_quantity_at_renewal",
              "price_change_not_applied")
# What a change billed from another instant than its own leaves once the leftovers are netted.
SHIFT_KINDS = ("shifted_change", "missing_proration", "unexpected_line", "wrong_proration")


def _fold_across_period(link, plan: Plan, late_rows: list, out: list, start: int) -> None:
    """One ``late_change`` per change pushed across a period boundary, absorbing the line differences it causes.

    A change dated before a renewal that reaches seatsync after it is pushed at the new period's start
    (``across_period``): the old period misses its proration, the renewal bills the old quantity and
    the new period carries a full-period pair. Those are one fault, not four; what is really at stake
    is their net (the short stretch before the boundary), so the fold keeps that as money at stake.
    """
    for late in late_rows:
        boundary = _seconds(late["instant_us"])
        folded = [d for d in out[start:] if d.kind in LINE_KINDS and d.lines
                  and boundary in (d.period_start, d.period_end)]
        out[:] = [d for d in out if not any(d is f for f in folded)]
        out.append(_late_difference(link, plan, late, folded, boundary))


def _fold_billed_late(link, plan: Plan, late_rows: list, out: list, start: int) -> None:
    """One ``late_change`` per change seatsync knowingly billed from another instant (``applied_now``: the
    provider cannot date it back; ``shifted``: no in-range plan could date it exactly), absorbing what the
    seat price's leftovers of that period say after netting (a ``shifted_change``, or the lines of it)."""
    for late in late_rows:
        period_s = _seconds(late["period_start_us"]) if late["period_start_us"] is not None else None
        instant_s = _seconds(late["instant_us"])
        folded = [d for d in out[start:] if d.kind in SHIFT_KINDS and d.price in plan.seat.ids and d.lines
                  and d.period_start is not None and d.period_end is not None
                  and (period_s if period_s is not None else instant_s) <= d.period_start
                  and instant_s < d.period_end]
        out[:] = [d for d in out if not any(d is f for f in folded)]
        out.append(_late_difference(link, plan, late, folded, period_s or instant_s))


def _late_difference(link, plan: Plan, late, folded: list[Difference], at_s: int) -> Difference:
    """The late change's difference: the net of the lines it explains, else its own exact money (seat-time ×
    price / period units), else its seats × one period's seat price."""
    lines = tuple(ref for d in folded for ref in d.lines)
    if folded:
        stake = abs(sum(d.net for d in folded))
    elif late["amount"] is not None and late["period_units"]:
        stake = round_minor(Fraction(abs(late["amount"]), late["period_units"]))
    else:
        stake = abs(late["delta"]) * _seat_unit(plan, late["instant_us"])
    what = {"across_period": "after the period it belongs to was billed",
            "applied_now": "from the provider's now: it cannot date a change back",
            "shifted": "from another instant: no plan within the ledger's range dates it exactly"}
    return Difference(
        link.account, "late_change",
        f"{late['kind']}: a change of {late['delta']:+d} seats reached the provider at "
        f"{format_us(late['instant_us'])}, {what.get(late['kind'], 'late')}"
        + (f"; explains {len(lines) or len(folded)} line differences" if folded else ""),
        stake, plan.currency, period_start=at_s, lines=lines)


def _reshaped(left_expected: list, left_actual: list, tolerance: int) -> None:
    """Drop prorations Chargebee re-shaped without changing the money.

    On a later change in the same term Chargebee voids the open unbilled charge and reissues it for the
    shorter span, netting the credit into it (adapter/billing.py "Not modelled"): per price, the leftover
    expected prorations and the leftover actual ones then carry the same total in different shapes.
    """
    prices = {line.price_id for line in left_expected if line.proration}
    for price in prices:
        expected = [line for line in left_expected if line.proration and line.price_id == price]
        # Chargebee line items carry no proration flag (docs/chargebee.md#line-items); a reshaped charge is
        # recognised by its span: inside the expected prorations' span, and not a whole term.
        low = min(_expected_key(line)[1] for line in expected)
        high = max(_expected_key(line)[2] for line in expected)
        actual = [item for item in left_actual if item.row.get("price") == price
                  and item.row.get("period_start") is not None and item.row.get("period_end") is not None
                  and low <= item.row["period_start"] and item.row["period_end"] <= high
                  and (item.source == "credit_note" or item.row["period_start"] > low
                       or item.row["period_end"] + 1 < high)]
        if not expected or not actual:
            continue
        if abs(sum(line.amount for line in expected) - sum(item.row["amount"] for item in actual)) <= tolerance * max(
                len(expected), len(actual)):
            for line in expected:
                left_expected.remove(line)
            for item in actual:
                left_actual.remove(item)


def _credit_notes_applied(db, link, invoices, currency, since_us, out) -> None:
    """A refundable credit note still available after a later invoice with money due was not applied."""
    for note in store.recon_credit_notes(db, link.provider, link.subscription, _seconds(link.linked_us),
                                         2**62):
        raw = json.loads(note["raw"])
        available = raw.get("amount_available") or 0
        later = [i for i in invoices if i["created"] > note["created"] and (i["amount_due"] or 0) > 0]
        if available > 0 and later:
            out.append(Difference(link.account, "credit_not_applied",
                                  f"credit note {note['id']} has {available} available, but invoice "
                                  f"{later[0]['id']} asked for {later[0]['amount_due']}", available, currency,
                                  invoice=note["id"], actual_amount=available))


def _diff(link, kind: str, line: ExpectedLine | None, item: _Actual | None, currency: str, detail: str,
          stake: int | None = None) -> Difference:
    """One line's difference; money at stake defaults to |actual − expected| (a missing side counts 0)."""
    row = item.row if item is not None else {}
    expected_amount = line.amount if line is not None else None
    actual_amount = row.get("amount") if item is not None else None
    if stake is None:
        stake = abs((actual_amount or 0) - (expected_amount or 0))
    if item is not None:
        price, period_start, period_end = row.get("price"), row.get("period_start"), row.get("period_end")
    elif line is not None:
        key = _expected_key(line)
        price, period_start, period_end = line.price_id, key[1], key[2]
    else:
        raise ValueError("a line difference needs an expected or an actual line")
    return Difference(
        link.account, kind, detail, stake, currency, invoice=item.invoice or None if item else None,
        line=row.get("id"), price=price, period_start=period_start, period_end=period_end,
        expected_quantity=line.quantity if line is not None else None,
        actual_quantity=row.get("quantity") if item is not None else None,
        expected_amount=expected_amount, actual_amount=actual_amount, lines=_refs(line, item))


def _refs(line: ExpectedLine | None, item: _Actual | None) -> tuple[LineRef, ...]:
    """The lines a one-line difference stands for, as ``LineRef``s."""
    refs = []
    if line is not None:
        key = _expected_key(line)
        refs.append(LineRef("expected", line.price_id, key[1], key[2], line.quantity, line.amount,
                            proration=bool(line.proration)))
    if item is not None:
        row = item.row
        refs.append(LineRef("pending" if item.source == "pending" else "actual", row.get("price"),
                            row.get("period_start"), row.get("period_end"), row.get("quantity"), row["amount"] or 0,
                            proration=bool(row.get("proration")) or item.source == "credit_note",
                            id=row.get("id"), invoice=item.invoice or None))
    return tuple(refs)
