"""A report as a table for people and CSV for spreadsheets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from adapter.billing.money import format_amount
from adapter.reconcile.differences import Difference, Report


def rows(differences: Iterable[Difference]) -> list[dict]:
    return [d.as_dict() for d in differences]


# ------------------------------------------------------------------ rendering

COLUMNS = ("account", "kind", "money_at_stake", "currency", "invoice", "line", "price", "period_start",
           "period_end", "expected_quantity", "actual_quantity", "expected_amount", "actual_amount", "detail")


def line_refs(difference: Difference) -> str:
    """The lines a difference stands for, compactly: ``expected price start→end ×qty amount; actual id …``."""
    return "; ".join(f"{ref.side} {ref.id or ref.price} {ref.period_start}→{ref.period_end} ×{ref.quantity} "
                     f"{ref.amount}" + (f" on {ref.invoice}" if ref.invoice else "") for ref in difference.lines)


def to_csv(report: Report) -> str:
    """The differences as CSV (one header row, ``COLUMNS`` then ``lines``), for spreadsheets."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=(*COLUMNS, "lines"), lineterminator="\n")
    writer.writeheader()
    for difference in report.differences:
        row = {key: "" if value is None else value for key, value in difference.as_dict().items()}
        writer.writerow({**row, "lines": line_refs(difference)})
    return buffer.getvalue()


def _when(seconds: int | None) -> str:
    return "" if seconds is None else datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _totals(totals: dict[str, int]) -> str:
    return ", ".join(format_amount(amount, currency) for currency, amount in totals.items())


def render_table(report: Report) -> list[str]:
    """Lines of text for people: the summary, then one line per difference."""
    summary = report.summary()
    money, owed = _totals(summary["money_at_stake"]), _totals(summary["receivables"])
    out = [f"window   {summary['since']} → {summary['until']}",
           f"checked  {summary['accounts']} accounts, {summary['invoices']} invoices, {summary['lines']} expected "
           f"and {summary['actual_lines']} actual lines",
           f"found    {summary['differences']} differences" + (f", {money} at stake" if money else "")
           + (f", {owed} receivable on unpaid invoices" if owed else "")]
    for kind, count in summary["by_kind"].items():
        out.append(f"  {kind:<26} {count}")
    for error in report.errors:
        out.append(f"error    {error}")
    if summary["by_account"]:
        out.append(f"{'ACCOUNT':<16} {'DIFFS':>5} {'AT STAKE (NET)':>16}  RECEIVABLE")
    for name, entry in summary["by_account"].items():
        out.append(f"{name:<16} {entry['differences']:>5} {_totals(entry['money_at_stake']) or '-':>16}  "
                   f"{_totals(entry['receivables']) or '-'}")
    if report.differences:
        out.append(f"{'ACCOUNT':<16} {'KIND':<26} {'AT STAKE':>14}  DETAIL")
        for d in report.differences:
            stake = format_amount(d.money_at_stake, d.currency) if d.currency else str(d.money_at_stake)
            where = f" [{d.invoice}{'/' + d.line if d.line else ''}]" if d.invoice else ""
            out.append(f"{d.account:<16} {d.kind:<26} {stake:>14}  {d.detail}{where}")
            if len(d.lines) > 1:  # a netted cause: which lines it stands for
                out.extend(f"{'':<16}   {ref.side:<8} {ref.id or ref.price or ''} {_when(ref.period_start)} → "
                           f"{_when(ref.period_end)} ×{ref.quantity} {format_amount(ref.amount, d.currency)}"
                           + (f" [{ref.invoice}]" if ref.invoice else "") for ref in d.lines)
    return out
