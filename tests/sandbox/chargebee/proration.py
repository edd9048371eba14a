"""Prorated segments and billable quantities: pure arithmetic, no state.

A change at instant t turns into *segments*: a signed quantity of one item
price over ``[from, to)`` inside a term (negative = credit). Pending segments
and new ones are netted per item price and term (``consolidate``), which is
how Chargebee revises unbilled charges instead of stacking them (reference
chargebee.md §3, ``is_voided``). Amounts come from ``terms.fraction_of_term``
and ``money.line_amount``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Segment:
    item_price_id: str
    from_ms: int
    to_ms: int
    term_start_ms: int
    term_end_ms: int
    quantity: int  # signed; negative = credit


def consolidate(segments: list[Segment]) -> list[Segment]:
    """Net the signed quantities per item price and term over time.

    ``+3 over [Apr 11, May 1)`` and ``-2 over [Apr 21, May 1)`` become
    ``+3 over [Apr 11, Apr 21)`` and ``+1 over [Apr 21, May 1)``.
    """
    groups: dict[tuple, list[Segment]] = {}
    for seg in segments:
        groups.setdefault((seg.item_price_id, seg.term_start_ms, seg.term_end_ms), []).append(seg)
    out: list[Segment] = []
    for (price_id, term_start, term_end), group in groups.items():
        points = sorted({s.from_ms for s in group} | {s.to_ms for s in group})
        merged: list[Segment] = []
        for start, end in zip(points, points[1:]):
            net = sum(s.quantity for s in group if s.from_ms <= start and s.to_ms >= end)
            if net == 0:
                continue
            if merged and merged[-1].to_ms == start and merged[-1].quantity == net:
                merged[-1].to_ms = end
            else:
                merged.append(Segment(price_id, start, end, term_start, term_end, net))
        out.extend(merged)
    return out


def billable(price: dict, quantity: int) -> int:
    if price["pricing_model"] == "flat_fee":
        return 1 if quantity else 0
    return max(quantity - price.get("free_quantity", 0), 0)


def full_amount(price: dict, quantity: int) -> int:
    return billable(price, quantity) * price["price"]


def entry_months(price: dict) -> int:
    return {"month": 1, "year": 12}.get(price.get("period_unit"), 0) * price.get("period", 1)
