"""Billing policies and the plan catalogue: TOML files in ``mappings/``.

``load_catalog(path)`` reads one file or every ``*.toml`` in a folder into
frozen dataclasses and raises ``CatalogError`` listing every problem;
``validate(path)`` returns the same problems as ``PolicyError`` values
(file, plan, key, reason) for ``seatsync policies check``.

A file has two tables, ``[plans.<id>]`` and ``[addons.<id>]``; ids are unique
across the whole folder. The keys and their meaning are documented in
``PLAN_KEYS``/``ADDON_KEYS`` below and in the files themselves.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapter.billing.money import is_currency
from adapter.providers import registry

INTERVALS = ("month", "year")
# Which proration granularities and zero-seat rules a plan may ask for is the provider's to say
# (adapter/providers/<name>: granularities, zero_seat_rules, zero_seats_required).
INCREASE_RULES = ("next_invoice", "invoice_now", "threshold", "at_renewal")
DECREASE_RULES = ("credit_next_invoice", "at_renewal")
# zero_seats: with no billable seats the seat item is allowed to go to 0, stays at minimum_seats
# (hold_minimum, needs minimum_seats >= 1), or is dropped from the subscription (remove_item).
ADDON_PRICING = ("per_unit", "flat_fee")
# Chargebee item_price.proration_type vocabulary, applied to both providers:
# partial_term = prorate the rest of the term, full_term = full price/credit for the term,
# none = no mid-term charge or credit (the renewal bills the new quantity).
ADDON_PRORATION = ("partial_term", "full_term", "none")

PLAN_KEYS = {"name", "provider", "currency", "interval", "timezone", "proration", "increase",
             "increase_threshold", "decrease", "minimum_seats", "included_seats", "zero_seats",
             "seat", "base_fee", "addons", "notice_days"}
PRICE_KEYS = {"price_id", "unit_amount", "price_changes"}
PRICE_CHANGE_KEYS = {"effective_from", "unit_amount", "price_id", "announced_on"}
ADDON_KEYS = {"name", "provider", "currency", "interval", "pricing", "proration", "price_id",
              "unit_amount", "price_changes"}

Table = dict[str, Any]  # a TOML table as tomllib reads it


@dataclass(frozen=True)
class PolicyError:
    file: str
    plan: str | None
    key: str | None
    reason: str

    def __str__(self) -> str:
        parts = [self.file]
        if self.plan is not None:
            parts.append(f"plan {self.plan}")
        if self.key is not None:
            parts.append(f"key {self.key}")
        return ": ".join(parts + [self.reason])


class CatalogError(Exception):
    def __init__(self, errors: list[PolicyError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class PricePoint:
    """A unit amount (minor units) in force from ``effective_from`` (a local date; None = always)."""

    effective_from: dt.date | None
    unit_amount: int
    price_id: str
    announced_on: dt.date | None = None  # when the customers are told (the plan's notice_days before, at least)


@dataclass(frozen=True)
class Price:
    price_id: str
    unit_amount: int
    price_changes: tuple[PricePoint, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """Every provider price id this price is billed under, dated changes included."""
        return (self.price_id, *(change.price_id for change in self.price_changes))

    def at(self, day: dt.date) -> PricePoint:
        """The price point in force on ``day`` (the billing period's first local day)."""
        current = PricePoint(None, self.unit_amount, self.price_id)
        for change in self.price_changes:
            if change.effective_from is not None and change.effective_from <= day:
                current = change
        return current


@dataclass(frozen=True)
class Addon:
    id: str
    name: str
    provider: str
    currency: str
    interval: str
    pricing: str
    proration: str
    price: Price
    source: str = ""


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    provider: str
    currency: str
    interval: str
    timezone: str
    proration: str
    increase: str
    decrease: str
    seat: Price
    base_fee: Price | None = None
    increase_threshold: int | None = None
    minimum_seats: int = 0
    included_seats: int = 0
    zero_seats: str = "allow"
    addons: tuple[str, ...] = ()
    source: str = ""
    notice_days: int = 0  # a price change is announced at least this many days before it takes effect

    def billable_seats(self, active: int) -> int:
        """Seats charged for ``active`` users: minimum first, then included seats are free."""
        if active <= 0 and self.zero_seats == "remove_item":
            return 0
        return max(0, max(active, self.minimum_seats) - self.included_seats)


@dataclass(frozen=True)
class Catalog:
    plans: dict[str, Plan] = field(default_factory=dict)
    addons: dict[str, Addon] = field(default_factory=dict)


def _files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        return sorted(path.glob("*.toml"))
    return [path]


class _Reader:
    """Collects errors while reading one plan or addon table."""

    def __init__(self, file: str, owner: str, table: Table, errors: list[PolicyError]):
        self.file, self.owner, self.table, self.errors = file, owner, table, errors

    def error(self, key: str | None, reason: str) -> None:
        self.errors.append(PolicyError(self.file, self.owner, key, reason))

    def unknown(self, allowed: set[str], prefix: str = "", table: Table | None = None) -> None:
        for key in sorted(set(table if table is not None else self.table) - allowed):
            self.error(prefix + key, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def string(self, key: str, default: str | None = None, required: bool = True, table: Table | None = None,
               prefix: str = "") -> str | None:
        table = self.table if table is None else table
        if key not in table:
            if required and default is None:
                self.error(prefix + key, "is required")
            return default
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.error(prefix + key, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def choice(self, key: str, options: Collection[str], default: str | None = None, why: str = "") -> str | None:
        value = self.string(key, default=default)
        if value is not None and value not in options:
            self.error(key, f"must be one of {', '.join(options)}{why}, got {value!r}")
            return None
        return value

    def integer(self, key: str, default: int | None = None, minimum: int = 0, table: Table | None = None,
                prefix: str = "") -> int | None:
        table = self.table if table is None else table
        if key not in table:
            if default is None:
                self.error(prefix + key, "is required")
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(prefix + key, f"must be an integer (minor units / count), got {value!r}")
            return None
        if value < minimum:
            self.error(prefix + key, f"must be >= {minimum}, got {value}")
            return None
        return value

    def price(self, key: str, table: object) -> Price | None:
        """A price table: price_id, unit_amount (minor units), optional price_changes."""
        prefix = f"{key}." if key else ""
        if not isinstance(table, dict):
            self.error(key, "must be a table with price_id and unit_amount")
            return None
        self.unknown(PRICE_KEYS, prefix, table)
        price_id = self.string("price_id", table=table, prefix=prefix)
        unit_amount = self.integer("unit_amount", table=table, prefix=prefix)
        changes: list[PricePoint] = []
        raw_changes = table.get("price_changes", [])
        if not isinstance(raw_changes, list):
            self.error(prefix + "price_changes", "must be an array of tables")
            raw_changes = []
        previous: dt.date | None = None
        for index, change in enumerate(raw_changes):
            where = f"{prefix}price_changes[{index}]."
            if not isinstance(change, dict):
                self.error(where.rstrip("."), "must be a table with effective_from and unit_amount")
                continue
            self.unknown(PRICE_CHANGE_KEYS, where, change)
            effective = change.get("effective_from")
            if isinstance(effective, dt.datetime) or not isinstance(effective, dt.date):
                self.error(where + "effective_from", f"must be a TOML local date like 2027-01-01, got {effective!r}")
                continue
            if previous is not None and effective <= previous:
                self.error(where + "effective_from", f"must be after the previous change ({previous})")
            previous = effective
            amount = self.integer("unit_amount", table=change, prefix=where)
            new_id = self.string("price_id", default=price_id, required=False, table=change, prefix=where)
            announced = change.get("announced_on")
            if announced is not None and (isinstance(announced, dt.datetime) or not isinstance(announced, dt.date)):
                self.error(where + "announced_on", f"must be a TOML local date like 2027-01-01, got {announced!r}")
                announced = None
            if amount is not None and new_id is not None:
                changes.append(PricePoint(effective, amount, new_id, announced))
        if price_id is None or unit_amount is None:
            return None
        return Price(price_id, unit_amount, tuple(changes))


def _read_addon(file: str, addon_id: str, table: object, errors: list[PolicyError]) -> Addon | None:
    reader = _Reader(file, f"addon {addon_id}", table if isinstance(table, dict) else {}, errors)
    if not isinstance(table, dict):
        reader.error(None, "must be a table")
        return None
    before = len(errors)
    reader.unknown(ADDON_KEYS)
    provider = reader.choice("provider", registry.NAMES)
    currency = _currency(reader)
    interval = reader.choice("interval", INTERVALS)
    pricing = reader.choice("pricing", ADDON_PRICING, default="per_unit")
    proration = reader.choice("proration", ADDON_PRORATION, default="partial_term")
    price = reader.price("", {k: table[k] for k in PRICE_KEYS if k in table})
    name = reader.string("name", default=addon_id, required=False)
    # Every None here came with an error; the checks say so to the type checker.
    if (len(errors) > before or name is None or provider is None or currency is None or interval is None
            or pricing is None or proration is None or price is None):
        return None
    return Addon(addon_id, name, provider, currency, interval, pricing, proration, price, file)


def _currency(reader: _Reader) -> str | None:
    value = reader.string("currency")
    if value is not None and (value != value.upper() or not is_currency(value)):
        reader.error("currency", f"must be an upper-case ISO 4217 code like USD or NOK, got {value!r}")
        return None
    return value


def _read_plan(file: str, plan_id: str, table: object, errors: list[PolicyError]) -> Plan | None:
    reader = _Reader(file, plan_id, table if isinstance(table, dict) else {}, errors)
    if not isinstance(table, dict):
        reader.error(None, "must be a table")
        return None
    before = len(errors)
    reader.unknown(PLAN_KEYS)
    provider = reader.choice("provider", registry.NAMES)
    currency = _currency(reader)
    interval = reader.choice("interval", INTERVALS)
    timezone = reader.string("timezone", default="UTC")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.error("timezone", f"is not an IANA time zone: {timezone!r}")
    proration = reader.string("proration")
    facts = registry.get(provider) if provider is not None else None
    if proration is not None and facts is not None and proration not in facts.granularities:
        reader.error("proration", f"must be one of {', '.join(facts.granularities)} for {provider}, got {proration!r}")
    increase = reader.choice("increase", INCREASE_RULES)
    decrease = reader.choice("decrease", DECREASE_RULES)
    threshold = None
    if increase == "threshold":
        threshold = reader.integer("increase_threshold", minimum=1)
    elif "increase_threshold" in table:
        reader.error("increase_threshold", f"only applies when increase = \"threshold\" (increase is {increase!r})")
    minimum = reader.integer("minimum_seats", default=0)
    included = reader.integer("included_seats", default=0)
    zero_seats = None
    if facts is not None:
        refuses_zero = f" ({facts.display_name} refuses quantity 0)" if facts.zero_seats_required else ""
        if facts.zero_seats_required and "zero_seats" not in table:
            reader.error("zero_seats", f"is required for {provider} (it refuses quantity 0): "
                         + " or ".join(facts.zero_seat_rules))
        else:
            zero_seats = reader.choice("zero_seats", facts.zero_seat_rules, default="allow", why=refuses_zero)
    if zero_seats == "hold_minimum" and minimum is not None and minimum < 1:
        reader.error("minimum_seats", "must be >= 1 when zero_seats = \"hold_minimum\"")
    seat = None
    if "seat" not in table:
        reader.error("seat", "is required: a table with price_id and unit_amount")
    else:
        seat = reader.price("seat", table["seat"])
    base_fee = reader.price("base_fee", table["base_fee"]) if "base_fee" in table else None
    addons = table.get("addons", [])
    if not isinstance(addons, list) or not all(isinstance(a, str) for a in addons):
        reader.error("addons", "must be an array of addon ids")
        addons = []
    name = reader.string("name", default=plan_id, required=False)
    notice_days = reader.integer("notice_days", default=0)
    for key, price in (("seat", seat), ("base_fee", base_fee)):
        _check_notice(reader, key, price, notice_days)
    # Every None here came with an error; the checks say so to the type checker.
    if (len(errors) > before or name is None or provider is None or currency is None or interval is None
            or timezone is None or proration is None or increase is None or decrease is None or seat is None
            or minimum is None or included is None or zero_seats is None):
        return None
    return Plan(plan_id, name, provider, currency, interval, timezone, proration, increase, decrease, seat,
                base_fee, threshold, minimum, included, zero_seats, tuple(addons), file, notice_days or 0)


def _check_notice(reader: _Reader, key: str, price: Price | None, notice_days: int | None) -> None:
    """Seed 000: "clinic administrators will receive notice three months in advance": a price change
    announced with less than ``notice_days`` days' notice before it takes effect is refused."""
    if price is None or not notice_days:
        return
    for index, change in enumerate(price.price_changes):
        where = f"{key}.price_changes[{index}].announced_on"
        if change.effective_from is None:
            continue  # the opening price (a change always has its date; the reader checked)
        if change.announced_on is None:
            reader.error(where, f"is required: the plan gives {notice_days} days' notice (notice_days) of the "
                                f"change effective {change.effective_from}")
            continue
        given = (change.effective_from - change.announced_on).days
        if given < notice_days:
            reader.error(where, f"{change.announced_on} is {given} days before effective_from "
                                f"{change.effective_from}; the plan requires notice_days = {notice_days} "
                                f"(announce by {change.effective_from - dt.timedelta(days=notice_days)})")


def _read(path: Path) -> tuple[Catalog, list[PolicyError]]:
    errors: list[PolicyError] = []
    plans: dict[str, Plan] = {}
    addons: dict[str, Addon] = {}
    files = _files(path)
    if not files:
        errors.append(PolicyError(str(path), None, None, "no *.toml policy files found"))
    plan_files: dict[str, str] = {}
    addon_files: dict[str, str] = {}
    for file in files:
        name = str(file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            errors.append(PolicyError(name, None, None, "file not found"))
            continue
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            errors.append(PolicyError(name, None, None, f"not valid TOML: {exc}"))
            continue
        for key in sorted(set(data) - {"plans", "addons"}):
            errors.append(PolicyError(name, None, key, "unknown top-level key (allowed: plans, addons)"))
        for addon_id, table in data.get("addons", {}).items():
            if addon_id in addon_files:
                errors.append(PolicyError(name, f"addon {addon_id}", None,
                                          f"duplicate addon id (also in {addon_files[addon_id]})"))
                continue
            addon_files[addon_id] = name
            addon = _read_addon(name, addon_id, table, errors)
            if addon is not None:
                addons[addon_id] = addon
        for plan_id, table in data.get("plans", {}).items():
            if plan_id in plan_files:
                errors.append(PolicyError(name, plan_id, None, f"duplicate plan id (also in {plan_files[plan_id]})"))
                continue
            plan_files[plan_id] = name
            plan = _read_plan(name, plan_id, table, errors)
            if plan is not None:
                plans[plan_id] = plan
    errors.extend(_addon_mismatches(plans, addons, addon_files))
    return Catalog(plans, addons), errors


def _addon_mismatches(plans: dict[str, Plan], addons: dict[str, Addon],
                      addon_files: dict[str, str]) -> list[PolicyError]:
    """Plans naming an unknown addon, or one of another provider, currency or interval.

    An addon that was declared but failed to read (in ``addon_files``, not in ``addons``) has its own errors.
    """
    errors: list[PolicyError] = []
    for plan in plans.values():
        for addon_id in plan.addons:
            addon = addons.get(addon_id)
            if addon is None:
                if addon_id not in addon_files:
                    errors.append(PolicyError(plan.source, plan.id, "addons", f"unknown addon {addon_id!r}"))
                continue
            for attribute in ("provider", "currency", "interval"):
                if getattr(addon, attribute) != getattr(plan, attribute):
                    errors.append(PolicyError(plan.source, plan.id, "addons",
                                              f"addon {addon_id!r} has {attribute} {getattr(addon, attribute)!r}, "
                                              f"plan has {getattr(plan, attribute)!r}"))
    return errors


def validate(path: str | Path) -> list[PolicyError]:
    """Every problem in the file or folder at ``path``; empty when it loads cleanly."""
    return _read(Path(path))[1]


def load_catalog(path: str | Path) -> Catalog:
    """The plans and addons at ``path`` (a file or a folder of ``*.toml``); raises CatalogError."""
    catalog, errors = _read(Path(path))
    if errors:
        raise CatalogError(errors)
    return catalog


def rewrite_price_ids(source: Path, out_dir: Path, ids: dict[str, str]) -> Path:
    """Copy the catalogue's files to ``out_dir`` with each quoted price id replaced by ``ids[id]``.

    For providers that choose their own price ids (Stripe): create the prices,
    then point SEATSYNC_MAPPINGS at the copy. Comments and layout are kept.
    """
    import re

    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in _files(source):
        text = path.read_text()
        for old, new in ids.items():
            text = re.sub(rf'"{re.escape(old)}"', f'"{new}"', text)
        (out_dir / path.name).write_text(text)
    return out_dir


def price_roles(catalog: Catalog, provider: str) -> tuple[set[str], set[str], set[str]]:
    """Every price id (dated changes included) of ``provider``'s plans and addons: (seat, base fee, addon).

    How seat sync tells a subscription's items apart.
    """
    seat: set[str] = set()
    base: set[str] = set()
    addon: set[str] = set()
    for plan in catalog.plans.values():
        if plan.provider == provider:
            seat.update(plan.seat.ids)
            if plan.base_fee:
                base.update(plan.base_fee.ids)
    for item in catalog.addons.values():
        if item.provider == provider:
            addon.update(item.price.ids)
    return seat, base, addon
