"""A report as a table for people and CSV for spreadsheets."""

from __future__ import annotations

from collections.abc import Iterable

from adapter.billing.money import format_amount
from adapter.reconcile.differences import Difference, Report


def rows(differences: Iterable[Difference]) -> list[dict]:
    return [d.as_dict() for d in differences]


# ------------------------------------------------------------------ rendering

COLUMNS = ("account", "kind", "money_at_stake", "currency", "invoice", "line", "price", "period_start",
           "period_end", "expected_quantity", "actual_quantity", "expected_amount", "actual_amount", "detail")


def to_csv(report: Report) -> str:
    """The differences as CSV (one header row, ``COLUMNS``), for spreadsheets."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for difference in report.differences:
        writer.writerow({key: "" if value is None else value for key, value in difference.as_dict().items()})
    return buffer.getvalue()


def render_table(report: Report) -> list[str]:
    """Lines of text for people: the summary, then one line per difference."""
    summary = report.summary()
    money = ", ".join(format_amount(amount, currency) for currency, amount in summary["money_at_stake"].items())
    owed = ", ".join(format_amount(amount, currency) for currency, amount in summary["receivables"].items())
    out = [f"window   {summary['since']} → {summary['until']}",
           f"checked  {summary['accounts']} accounts, {summary['invoices']} invoices, {summary['lines']} expected "
           f"and {summary['actual_lines']} actual lines",
           f"found    {summary['differences']} differences" + (f", {money} at stake" if money else "")
           + (f", {owed} receivable on unpaid invoices" if owed else "")]
    for kind, count in summary["by_kind"].items():
        out.append(f"  {kind:<26} {count}")
    for error in report.errors:
        out.append(f"error    {error}")
    if report.differences:
        out.append(f"{'ACCOUNT':<16} {'KIND':<26} {'AT STAKE':>14}  DETAIL")
        for d in report.differences:
            stake = format_amount(d.money_at_stake, d.currency) if d.currency else str(d.money_at_stake)
            where = f" [{d.invoice}{'/' + d.line if d.line else ''}]" if d.invoice else ""
            out.append(f"{d.account:<16} {d.kind:<26} {stake:>14}  {d.detail}{where}")
    return out
