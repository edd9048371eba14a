"""The policy loader: the shipped mappings load; every kind of mistake is named precisely."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapter.billing.policy import CatalogError, PolicyError, load_catalog, validate

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"

GOOD_PLAN = """
[plans.p]
provider = "stripe"
currency = "USD"
interval = "month"
proration = "second"
increase = "next_invoice"
decrease = "credit_next_invoice"
seat = { price_id = "price_seat", unit_amount = 500 }
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def reasons(path: Path) -> list[tuple[str | None, str | None, str]]:
    return [(e.plan, e.key, e.reason) for e in validate(path)]


def test_shipped_mappings_are_valid_and_cover_the_three_seeds():
    assert validate(MAPPINGS) == []
    catalog = load_catalog(MAPPINGS)
    assert {"konfidens-pro-monthly", "standard-monthly", "premium-monthly", "standard-annual",
            "premium-annual", "team-monthly", "team-annual"} <= set(catalog.plans)
    standard, premium = catalog.plans["standard-monthly"], catalog.plans["premium-monthly"]
    # 001's numbers: 10 users cost $60 on Standard and $130 on Premium.
    assert standard.base_fee.unit_amount + 10 * standard.seat.unit_amount == 6000
    assert premium.base_fee.unit_amount + 10 * premium.seat.unit_amount == 13000
    assert catalog.plans["standard-annual"].seat.unit_amount == 5500
    assert catalog.plans["premium-annual"].seat.unit_amount == 11000
    assert catalog.plans["team-annual"].increase_threshold == 15000
    pro = catalog.plans["konfidens-pro-monthly"]
    assert (pro.provider, pro.timezone, pro.proration) == ("chargebee", "Europe/Oslo", "day")
    assert catalog.addons["konfidens-sms-monthly"].pricing == "flat_fee"


def test_a_single_file_loads_and_defaults_apply(tmp_path):
    plan = load_catalog(write(tmp_path, GOOD_PLAN)).plans["p"]
    assert (plan.timezone, plan.minimum_seats, plan.included_seats, plan.zero_seats) == ("UTC", 0, 0, "allow")
    assert plan.base_fee is None and plan.name == "p"


def test_price_in_force_follows_effective_from(tmp_path):
    text = GOOD_PLAN.replace('seat = { price_id = "price_seat", unit_amount = 500 }', """
[plans.p.seat]
price_id = "price_seat"
unit_amount = 500
price_changes = [{ effective_from = 2027-03-01, unit_amount = 600, price_id = "price_seat_2027" }]
""")
    seat = load_catalog(write(tmp_path, text)).plans["p"].seat
    assert seat.at(dt.date(2027, 2, 28)).unit_amount == 500
    assert seat.at(dt.date(2027, 3, 1)) .unit_amount == 600
    assert seat.at(dt.date(2027, 3, 1)).price_id == "price_seat_2027"


@pytest.mark.parametrize("change, expected", [
    (("provider = \"stripe\"", "provider = \"paypal\""),
     ("p", "provider", "must be one of stripe, chargebee, got 'paypal'")),
    (("currency = \"USD\"", "currency = \"usd\""),
     ("p", "currency", "must be an upper-case ISO 4217 code like USD or NOK, got 'usd'")),
    (("currency = \"USD\"", "currency = \"XYZ\""),
     ("p", "currency", "must be an upper-case ISO 4217 code like USD or NOK, got 'XYZ'")),
    (("interval = \"month\"", "interval = \"week\""), ("p", "interval", "must be one of month, year, got 'week'")),
    (("proration = \"second\"", "proration = \"millisecond\""),
     ("p", "proration", "must be one of second, day for stripe, got 'millisecond'")),
    (("increase = \"next_invoice\"", "increase = \"threshold\""), ("p", "increase_threshold", "is required")),
    (("decrease = \"credit_next_invoice\"", "decrease = \"refund\""),
     ("p", "decrease", "must be one of credit_next_invoice, at_renewal, got 'refund'")),
    (("unit_amount = 500", "unit_amount = 5.0"),
     ("p", "seat.unit_amount", "must be an integer (minor units / count), got 5.0")),
    (("unit_amount = 500", "unit_amount = -5"), ("p", "seat.unit_amount", "must be >= 0, got -5")),
    (("interval = \"month\"", "interval = \"month\"\ntimezone = \"Mars/Base\""),
     ("p", "timezone", "is not an IANA time zone: 'Mars/Base'")),
    (("interval = \"month\"", "interval = \"month\"\nseats = 3"), ("p", "seats", None)),
    (("interval = \"month\"", "interval = \"month\"\nincrease_threshold = 100"),
     ("p", "increase_threshold", "only applies when increase = \"threshold\" (increase is 'next_invoice')")),
])
def test_each_mistake_is_named_by_file_plan_key_and_reason(tmp_path, change, expected):
    path = write(tmp_path, GOOD_PLAN.replace(*change))
    errors = validate(path)
    assert len(errors) == 1, errors
    plan, key, reason = expected
    assert (errors[0].file, errors[0].plan, errors[0].key) == (str(path), plan, key)
    if reason is not None:
        assert errors[0].reason == reason
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert f"{path}: plan p: key {key}: " in str(raised.value)


def test_chargebee_needs_a_zero_seat_rule_and_a_real_minimum(tmp_path):
    text = GOOD_PLAN.replace("stripe", "chargebee").replace("\"second\"", "\"day\"")
    assert reasons(write(tmp_path, text)) == [
        ("p", "zero_seats", "is required for chargebee (it refuses quantity 0): hold_minimum or remove_item")]
    held = text.replace("proration", "zero_seats = \"hold_minimum\"\nproration")
    assert reasons(write(tmp_path, held)) == [("p", "minimum_seats", "must be >= 1 when zero_seats = \"hold_minimum\"")]
    allowed = text.replace("proration", "zero_seats = \"allow\"\nproration")
    assert reasons(write(tmp_path, allowed)) == [
        ("p", "zero_seats", "must be one of hold_minimum, remove_item (Chargebee refuses quantity 0), got 'allow'")]


def test_billable_seats_apply_minimum_included_and_zero_rules(tmp_path):
    text = GOOD_PLAN.replace("proration", "minimum_seats = 3\nincluded_seats = 2\nproration")
    plan = load_catalog(write(tmp_path, text)).plans["p"]
    assert [plan.billable_seats(n) for n in (0, 1, 3, 4, 10)] == [1, 1, 1, 2, 8]
    text = text.replace("proration", "zero_seats = \"remove_item\"\nproration")
    removed = load_catalog(write(tmp_path, text)).plans["p"]
    assert [removed.billable_seats(n) for n in (0, 1, 4)] == [0, 1, 2]


def test_duplicates_unknown_addons_mismatches_and_bad_toml_across_files(tmp_path):
    write(tmp_path, GOOD_PLAN.replace("seat = {", "addons = [\"nope\", \"eur\"]\nseat = {"), "a.toml")
    write(tmp_path, GOOD_PLAN + """
[addons.eur]
provider = "stripe"
currency = "EUR"
interval = "month"
price_id = "price_eur"
unit_amount = 100
""", "b.toml")
    write(tmp_path, "plans = [", "c.toml")
    errors = validate(tmp_path)
    text = [str(e) for e in errors]
    assert f"{tmp_path / 'a.toml'}: plan p: key addons: unknown addon 'nope'" in text
    assert f"{tmp_path / 'a.toml'}: plan p: key addons: addon 'eur' has currency 'EUR', plan has 'USD'" in text
    assert any(t.startswith(f"{tmp_path / 'b.toml'}: plan p: duplicate plan id (also in ") for t in text)
    assert any(t.startswith(f"{tmp_path / 'c.toml'}: not valid TOML: ") for t in text)
    assert len(errors) == 4


def test_price_changes_must_be_dates_in_order(tmp_path):
    text = GOOD_PLAN.replace('seat = { price_id = "price_seat", unit_amount = 500 }', """
[plans.p.seat]
price_id = "s"
unit_amount = 500
price_changes = [
    { effective_from = 2027-03-01, unit_amount = 600 },
    { effective_from = 2027-01-01, unit_amount = 700 },
    { effective_from = "soon", unit_amount = 1 },
]
""")
    assert reasons(write(tmp_path, text)) == [
        ("p", "seat.price_changes[1].effective_from", "must be after the previous change (2027-03-01)"),
        ("p", "seat.price_changes[2].effective_from", "must be a TOML local date like 2027-01-01, got 'soon'"),
    ]


def test_an_empty_folder_is_an_error(tmp_path):
    assert validate(tmp_path) == [PolicyError(str(tmp_path), None, None, "no *.toml policy files found")]
