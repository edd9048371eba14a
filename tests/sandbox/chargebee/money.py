"""Line amounts in minor units.

Chargebee documents no per-line rounding rule for prorations (reference
chargebee.md §3 and §10: UNVERIFIED). The sandbox rounds each final line
amount once, with the site's ``rounding`` setting (``ROUND_HALF_UP`` by
default), from the exact fraction ``quantity * unit_amount * part / whole``.
So Apr 21, 8 -> 6 seats at 1000 with 10 of 30 days left is 666.67 -> 667.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

ROUNDING_MODES = ("ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_HALF_DOWN", "ROUND_DOWN", "ROUND_UP",
                  "ROUND_FLOOR", "ROUND_CEILING")


def line_amount(quantity: int, unit_amount: int, share: Fraction, rounding: str) -> int:
    """Round ``quantity * unit_amount * share`` to a whole minor unit."""
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding {rounding!r}")
    exact = Fraction(quantity * unit_amount) * share
    context = decimal.Context(prec=50, rounding=getattr(decimal, rounding))
    value = context.divide(Decimal(exact.numerator), Decimal(exact.denominator))
    return int(value.quantize(Decimal(1), context=context))
