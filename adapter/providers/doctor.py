"""``seatsync doctor``: is the configured provider set up the way mappings/ and seatsync need it?

Each provider's ``doctor`` module (``stripe/doctor.py``, ``chargebee/doctor.py``) reads its API and says
what it found; this module holds what they share: the findings, the expected prices from the catalogue
and the settings every deployment needs. Only reads, never writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from adapter.billing.policy import Catalog
from adapter.providers.catalog import catalogue_prices


class CannotCheck(Exception):
    """The provider's API cannot be asked (unreachable, key refused): nothing could be checked."""


@dataclass(frozen=True)
class Finding:
    ok: bool
    check: str  # "price", "webhook", "setting"
    subject: str  # a price id, an endpoint, a variable
    detail: str

    def line(self) -> str:
        return f"{'ok     ' if self.ok else 'PROBLEM'}  {self.check:<8} {self.subject}: {self.detail}"


@dataclass(frozen=True)
class ExpectedPrice:
    price_id: str
    unit_amount: int  # minor units
    currency: str  # upper-case ISO 4217, as in mappings/
    interval: str  # month | year
    pricing: str  # the provider's pricing model seatsync creates and bills by: per_unit
    source: str  # the mappings file naming it


def expected_prices(catalog: Catalog, provider: str) -> list[ExpectedPrice]:
    """Every price id the catalogue names for ``provider``, once each, with what mappings/ says of it.

    A dated price change under the same id as the price it changes is left out (the provider holds one
    amount per id; the change applies from its date); under its own id it is checked like any price.
    """
    found: dict[str, ExpectedPrice] = {}
    for price_id, amount, currency, interval, _, _, source in catalogue_prices(catalog, provider):
        if price_id and price_id not in found:
            found[price_id] = ExpectedPrice(price_id, amount, currency, interval, "per_unit", source)
    return list(found.values())


def compare(expected: ExpectedPrice, actual: dict[str, Any] | None, *, where: str) -> Finding:
    """One price against the provider's (``actual``: amount, currency, interval, pricing, active)."""
    if actual is None:
        return Finding(False, "price", expected.price_id, f"does not exist at {where} (named in {expected.source})")
    wrong = []
    for field, want in (("unit_amount", expected.unit_amount), ("currency", expected.currency),
                        ("interval", expected.interval), ("pricing", expected.pricing)):
        if actual.get(field) != want:
            wrong.append(f"{field} {actual.get(field)!r} at {where}, {want!r} in {expected.source}")
    if actual.get("active") is False:
        wrong.append(f"archived at {where}: new subscriptions cannot use it")
    if wrong:
        return Finding(False, "price", expected.price_id, "; ".join(wrong))
    return Finding(True, "price", expected.price_id,
                   f"{expected.unit_amount} {expected.currency} per {expected.interval}, {expected.pricing}")


def setting(ok: bool, variable: str, detail: str) -> Finding:
    return Finding(ok, "setting", variable, detail)


def common_settings(settings: Any) -> Iterator[Finding]:
    """What every deployment with a real provider needs, whichever provider it is (``settings`` as
    configured, before the embedded defaults fill a generated product secret)."""
    yield setting(bool(settings.product_secrets), "SEATSYNC_PRODUCT_SECRETS",
                  f"{len(settings.product_secrets)} secret(s)" if settings.product_secrets else
                  "unset: seat events would need the secret generated next to the database; give the product its own")


def events_finding(subject: str, enabled: Iterable[str], needed: Iterable[str]) -> Finding:
    enabled = set(enabled)
    if "*" in enabled:
        return Finding(True, "webhook", subject, "enables every event (*)")
    missing = sorted(set(needed) - enabled)
    if missing:
        return Finding(False, "webhook", subject, f"does not enable {', '.join(missing)}")
    return Finding(True, "webhook", subject, f"enables the {len(set(needed))} events seatsync needs")
