"""Issue 13 item 4: webhooks/openapi.json is the app's contract. Its paths and methods are the app's routes; it
is served at /openapi.json; its seat-event schema accepts exactly what intake accepts (hypothesis), apart from
the checks a schema cannot make (the catalogue's ids, IANA names, real calendar dates), which are named here."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from adapter.intake.parse import IntakeError, parse_document

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "webhooks" / "openapi.json").read_text())
PLANS = ("standard-monthly", "premium-monthly")
ADDONS = ("sso", "audit-log")
ZONES = ("Europe/Oslo", "UTC", "America/New_York")


def schema_for(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]})


BODY = schema_for("SeatEventBody")


def test_every_route_of_the_app_is_in_the_document_and_nothing_else(app):
    routes = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: set(ops) - {"parameters"} for path, ops in DOCUMENT["paths"].items()}
    assert documented == routes


def test_the_document_is_served_and_its_schemas_are_valid_json_schema(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1")
    for schema in DOCUMENT["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises, naming the keyword, on a broken schema
    # Each seat event type and every notification seatsync sends has its schema.
    from adapter.intake.parse import EVENT_TYPES

    consts = {s["properties"]["type"]["const"] for s in DOCUMENT["components"]["schemas"].values()
              if "properties" in s and "const" in s["properties"].get("type", {})}
    assert set(EVENT_TYPES) <= consts
    notifications = {"invoice.paid", "invoice.payment_failed", "subscription.past_due", "credit.issued",
                     "seats.drift_detected", "subscription.cancelled", "subscription.paused",
                     "subscription.resumed", "price.change_scheduled", "seats.unlinked"}
    assert set(DOCUMENT["webhooks"]) == notifications


def test_problem_bodies_the_app_answers_fit_the_problem_schema(client):
    problem = schema_for("Problem")
    answers = [client.post("/webhooks/product", data=b"{}", content_type="application/json"),
               client.post("/webhooks/stripe", data=b"{}"), client.get("/nowhere"), client.get("/ops/reconciliation"),
               client.delete("/webhooks/product")]
    for answer in answers:
        assert answer.mimetype == "application/problem+json"
        assert list(problem.iter_errors(answer.get_json())) == []
    assert list(schema_for("Alive").iter_errors(client.get("/healthz").get_json())) == []
    assert list(schema_for("Ready").iter_errors(client.get("/readyz").get_json())) == []


def intake_errors(document) -> list[dict]:
    try:
        parse_document(document, plans=PLANS, addons=ADDONS)
    except IntakeError as exc:
        return exc.errors
    return []


def accepted(document) -> bool:
    return not intake_errors(document)


TEXT_ALPHABET = string.ascii_letters + string.digits + "-_.@ é"
good_text = st.text(TEXT_ALPHABET, min_size=1, max_size=20).filter(lambda s: s.strip())
bad_text = st.one_of(st.just(""), st.just("   "), st.just("a\x00b"), st.just("tab\there"), st.just("x" * 256),
                     st.integers(), st.none(), st.lists(st.just("a"), max_size=2), st.booleans())
instants = st.one_of(
    st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-04-10T09:30:00Z", "2026-04-10T09:30:00.123456+02:00", "2026-04-10 09:30:00z"]))
bad_instants = st.sampled_from(["2026-04-10T09:30:00", "2026-04-10", "yesterday", "", "2026-04-10T09:30Z"]) | \
    st.integers() | st.none()


def field(good, bad):
    """Mostly a good value: hypothesis's one_of leans to its simplest branch, so the odds are explicit."""
    return st.integers(0, 5).flatmap(lambda n: bad if n == 0 else good)


def unique_texts(good_item):
    return st.lists(good_item, max_size=4, unique=True)


FIELDS = {
    "user": field(good_text, bad_text),
    "users": field(unique_texts(good_text), st.one_of(st.just(["a", "a"]), st.just("a"), st.lists(bad_text, min_size=1,
                                                                                                  max_size=2))),
    "plan": field(st.sampled_from(PLANS), bad_text),
    "addons": field(unique_texts(st.sampled_from(ADDONS)), st.one_of(st.just(["sso", "sso"]), st.just("sso"),
                                                                     st.lists(bad_text, min_size=1, max_size=2))),
    "provider": field(st.sampled_from(["stripe", "chargebee"]),
                      st.one_of(st.just("paypal"), st.just(""), st.integers())),
    "subscription": field(good_text, bad_text),
    "timezone": field(st.sampled_from(ZONES),
                      st.one_of(st.just(""), st.integers(), st.just("a\x01"), st.just("x" * 65))),
}
REQUIRED = {"seat.activated": ["user"], "seat.deactivated": ["user"], "account.plan_changed": ["plan"],
            "account.seats_snapshot": ["users"], "account.addons_changed": ["addons"],
            "account.linked": ["provider", "subscription", "plan", "timezone"], "account.unlinked": []}


@st.composite
def events(draw, index: int = 0):
    event_type = draw(field(st.sampled_from(list(REQUIRED)), st.sampled_from(["seat.renamed", 7, None])))
    event = {"id": draw(field(st.just(f"evt-{index}"), bad_text)), "type": event_type,
             "account": draw(field(good_text, bad_text)), "occurred_at": draw(field(instants, bad_instants))}
    for name in REQUIRED.get(event_type, []):
        event[name] = draw(FIELDS[name])
    if draw(st.integers(0, 9)) == 0:
        del event[draw(st.sampled_from(sorted(event)))]  # a missing field
    if draw(st.integers(0, 9)) == 0:
        absent = [name for name in ("seats", "user", "plan", "extra") if name not in event]
        event[draw(st.sampled_from(absent))] = "x"  # a field the type does not have
    return event


@st.composite
def bodies(draw):
    if draw(st.booleans()):
        return draw(events())
    count = draw(st.integers(0, 4))
    body = {"events": [draw(events(index)) for index in range(count)]}
    if draw(st.integers(0, 9)) == 0:
        body["also"] = 1
    return body


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_the_seat_event_schema_accepts_what_intake_accepts_and_rejects_what_it_rejects(body):
    by_schema = BODY.is_valid(body)
    assert by_schema == accepted(body), (body, [e.message for e in BODY.iter_errors(body)][:3], intake_errors(body))
    event(f"intake {'accepts' if by_schema else 'rejects'}")  # both kinds must be drawn (hypothesis statistics)


def test_the_generator_draws_both_accepted_and_rejected_bodies():
    seen = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(bodies())
    def draw(body):
        seen.append(accepted(body))

    draw()
    assert 0.05 < sum(seen) / len(seen) < 0.95, sum(seen)


@pytest.mark.parametrize("event, why", [
    ({"plan": "not-in-the-catalogue"}, "plan ids come from SEATSYNC_MAPPINGS"),
    ({"occurred_at": "2026-02-30T00:00:00Z"}, "a real calendar date"),
])
def test_what_only_intake_can_check_is_stated_in_the_document(event, why):
    base = {"id": "e1", "type": "account.plan_changed", "account": "a", "occurred_at": "2026-04-10T09:30:00Z",
            "plan": PLANS[0], **event}
    assert BODY.is_valid(base) and not accepted(base), why
    assert "422" in DOCUMENT["paths"]["/webhooks/product"]["post"]["responses"]


def test_the_report_schemas_follow_reconcile():
    """The ops reports' JSON schemas name reconcile's own kinds, sort columns and difference fields (schemathesis
    checks the answers against them, tests/webhooks/test_schemathesis.py)."""
    from dataclasses import fields

    from adapter import reconcile
    from adapter.reconcile.differences import Difference, Report

    schemas = DOCUMENT["components"]["schemas"]
    assert set(schemas["DifferenceKind"]["enum"]) == set(reconcile.KINDS)
    params = {p["name"]: p["schema"] for p in DOCUMENT["paths"]["/ops/reconciliation"]["get"]["parameters"]}
    assert params["sort"]["enum"] == list(reconcile.COLUMNS)
    assert params["kind"] == {"$ref": "#/components/schemas/DifferenceKind"}
    assert set(schemas["Difference"]["properties"]) == set(schemas["Difference"]["required"]) == {
        f.name for f in fields(Difference)}
    report = Report(since_us=0, until_us=86_400_000_000, accounts=1, differences=[
        Difference("acct", "seat_drift", "ledger 11, provider 10", money_at_stake=1200, currency="usd"),
        Difference("acct", "invoice_unpaid", "open", money_at_stake=500, currency="usd", invoice="in_1")])
    assert list(schema_for("Report").iter_errors(report.as_dict())) == []
    assert not schema_for("Report").is_valid({**report.as_dict(), "summary": {"accounts": 1}})
