"""Currencies as pure functions: ISO 4217 minor-unit exponents and how amounts read in descriptions.

Stripe amounts are integers in the currency's minor unit (reference stripe.md §1: "Each line is
an integer in the currency's minor unit"); for a zero-decimal currency the minor unit is the
unit, so ``unit_amount=1000`` in JPY is ¥1,000, not ¥10.00. The exponents below are ISO 4217's
(2 unless listed). Stripe's own currency list (docs.stripe.com/currencies, not in the reference)
treats a few codes differently from ISO (e.g. MGA as zero-decimal, ISK and HUF with special
rules); the sandbox follows ISO 4217 there, UNVERIFIED against Stripe.

Descriptions follow Stripe's en-US display as in the PRO example ("1 × Gold product (at $32.52 /
month)"): a symbol and grouped digits for the currencies below; every other currency reads as
grouped digits with its exponent's decimals followed by the code ("1,000 KRW", "1.500 BHD"),
which is the sandbox's reading (UNVERIFIED).
"""

from __future__ import annotations

ZERO_DECIMAL = frozenset("bif clp djf gnf isk jpy kmf krw pyg rwf ugx uyi vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd iqd jod kwd lyd omr tnd".split())
FOUR_DECIMAL = frozenset("clf uyw".split())

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}

# The account's currency, used where Stripe would default to it (an invoice for a customer that
# has no currency yet); the sandbox's account is a US one (invoice.account_country = "US").
ACCOUNT_CURRENCY = "usd"


def exponent(currency: str) -> int:
    """Digits after the decimal point of the major unit: JPY 0, USD 2, KWD 3, CLF 4."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in FOUR_DECIMAL:
        return 4
    return 2


def format_amount(amount: int, currency: str) -> str:
    """``1000, "usd"`` → ``$10.00``; ``1000, "jpy"`` → ``¥1,000``; ``1500, "bhd"`` → ``1.500 BHD``."""
    digits = exponent(currency)
    whole, part = divmod(abs(amount), 10 ** digits)
    number = f"{whole:,}" + (f".{part:0{digits}d}" if digits else "")
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(currency.lower())
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency.upper()}"
