"""adapter.intake.parse: body → typed events, every field checked, every error named."""

import json

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from adapter import clock
from adapter.clock import parse_instant
from adapter.intake import parse as intake
from adapter.intake.parse import IntakeError, parse_body, parse_document

PLANS = {"team", "business"}
ADDONS = {"sso", "audit_log"}
T = "2026-03-01T10:00:00Z"

VALID = {
    "seat.activated": {"user": "u1"},
    "seat.deactivated": {"user": "u1"},
    "account.plan_changed": {"plan": "team"},
    "account.seats_snapshot": {"users": ["u1", "u2"]},
    "account.addons_changed": {"addons": ["sso"]},
    "account.linked": {"provider": "stripe", "subscription": "sub_1", "plan": "business", "timezone": "Europe/Berlin"},
}


def event(event_type="seat.activated", **overrides):
    body = {"id": "evt_1", "type": event_type, "account": "acme", "occurred_at": T, **VALID[event_type]}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def parse(document):
    return parse_document(document, plans=PLANS, addons=ADDONS)


def errors_of(document):
    with pytest.raises(IntakeError) as caught:
        parse(document)
    return caught.value


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_every_type_parses_to_its_dataclass(event_type):
    (parsed,) = parse(event(event_type))
    assert type(parsed) is intake.EVENT_TYPES[event_type]
    assert parsed.type == event_type
    assert (parsed.id, parsed.account) == ("evt_1", "acme")
    assert parsed.occurred_us == parse_instant(T)
    assert json.loads(parsed.body) == event(event_type)


def test_linked_timezone_is_optional():
    (parsed,) = parse(event("account.linked", timezone=...))
    assert parsed.timezone is None


def test_batch_keeps_order_and_pointers():
    parsed = parse({"events": [event(id="a"), event("seat.deactivated", id="b")]})
    assert [e.id for e in parsed] == ["a", "b"]


# (event type, field, bad value or ... for missing, expected reason fragment)
FIELD_ERRORS = [
    ("seat.activated", "id", ..., "is required"),
    ("seat.activated", "id", "", "non-empty string"),
    ("seat.activated", "id", 7, "non-empty string"),
    ("seat.activated", "id", "x" * 256, "at most 255"),
    ("seat.activated", "id", "a\nb", "control characters"),
    ("seat.activated", "type", ..., "is required"),
    ("seat.activated", "type", "seat.added", "unknown event type"),
    ("seat.activated", "account", ..., "is required"),
    ("seat.activated", "account", None, "non-empty string"),
    ("seat.activated", "account", "   ", "non-empty string"),
    ("seat.activated", "occurred_at", ..., "is required"),
    ("seat.activated", "occurred_at", "2026-03-01T10:00:00", "UTC offset"),
    ("seat.activated", "occurred_at", "2026-03-01", "RFC 3339"),
    ("seat.activated", "occurred_at", "yesterday", "RFC 3339"),
    ("seat.activated", "occurred_at", 1767225600, "RFC 3339 string"),
    ("seat.activated", "occurred_at", "2026-02-30T10:00:00Z", "real date"),
    ("seat.activated", "user", ..., "is required for seat.activated"),
    ("seat.activated", "user", ["u1"], "non-empty string"),
    ("seat.deactivated", "user", ..., "is required for seat.deactivated"),
    ("seat.deactivated", "user", "", "non-empty string"),
    ("seat.activated", "plan", "team", "unknown field"),
    ("account.plan_changed", "plan", ..., "is required"),
    ("account.plan_changed", "plan", "enterprise", "unknown plan"),
    ("account.plan_changed", "plan", 3, "non-empty string"),
    ("account.seats_snapshot", "users", ..., "is required"),
    ("account.seats_snapshot", "users", "u1", "array of strings"),
    ("account.seats_snapshot", "user", "u1", "unknown field"),
    ("account.addons_changed", "addons", ..., "is required"),
    ("account.addons_changed", "addons", {"sso": True}, "array of strings"),
    ("account.linked", "provider", ..., "is required"),
    ("account.linked", "provider", "paddle", "one of stripe, chargebee"),
    ("account.linked", "subscription", ..., "is required"),
    ("account.linked", "subscription", "", "non-empty string"),
    ("account.linked", "plan", ..., "is required"),
    ("account.linked", "plan", "gold", "unknown plan"),
    ("account.linked", "timezone", "Mars/Olympus", "unknown IANA"),
    ("account.linked", "timezone", "../../etc/passwd", "unknown IANA"),
    ("account.linked", "timezone", 1, "IANA time zone name"),
    ("account.linked", "extra", 1, "unknown field"),
]


@pytest.mark.parametrize("event_type,field,value,reason", FIELD_ERRORS,
                         ids=[f"{t}-{f}-{'missing' if v is ... else repr(v)[:20]}" for t, f, v, r in FIELD_ERRORS])
def test_each_field_error_is_named(event_type, field, value, reason):
    document = event(event_type)
    if value is ...:
        document.pop(field)
    else:
        document[field] = value
    error = errors_of({"events": [event(id="fine"), document]})
    assert error.status == 422
    matching = [e for e in error.errors if e["field"] == f"/events/1/{field}"]
    assert matching, error.errors
    assert reason in matching[0]["reason"]
    assert not [e for e in error.errors if e["field"].startswith("/events/0")]


@pytest.mark.parametrize("field,value,pointer,reason", [
    ("users", ["u1", ""], "/users/1", "non-empty string"),
    ("users", ["u1", "u1"], "/users/1", "listed twice"),
    ("users", ["u1", 5], "/users/1", "non-empty string"),
])
def test_snapshot_user_list_items(field, value, pointer, reason):
    error = errors_of(event("account.seats_snapshot", users=value))
    assert error.errors == [{"field": pointer, "reason": error.errors[0]["reason"]}]
    assert reason in error.errors[0]["reason"]


def test_unknown_addon_names_its_index():
    error = errors_of(event("account.addons_changed", addons=["sso", "warp_drive"]))
    assert [e["field"] for e in error.errors] == ["/addons/1"]
    assert "unknown addon" in error.errors[0]["reason"]


def test_empty_addon_list_is_valid_and_addons_are_sorted():
    assert parse(event("account.addons_changed", addons=[]))[0].addons == ()
    assert parse(event("account.addons_changed", addons=["sso", "audit_log"]))[0].addons == ("audit_log", "sso")


def test_all_errors_are_collected_across_the_batch():
    error = errors_of({"events": [event(id=""), event(occurred_at="2026-03-01 10:00"), 5]})
    assert [e["field"] for e in error.errors] == ["/events/0/id", "/events/1/occurred_at", "/events/2"]


@pytest.mark.parametrize("document,status,field", [
    ([], 422, ""),
    ("text", 422, ""),
    ({"events": {}}, 422, "/events"),
    ({"events": []}, 422, "/events"),
    ({"events": [], "id": "x"}, 422, "/id"),
])
def test_envelope_errors(document, status, field):
    error = errors_of(document)
    assert error.status == status
    assert error.errors[0]["field"] == field


def test_more_than_1000_events_is_413():
    error = errors_of({"events": [event(id=f"e{i}") for i in range(1001)]})
    assert error.status == 413
    assert error.errors[0]["field"] == "/events"
    assert len(parse({"events": [event(id=f"e{i}") for i in range(1000)]})) == 1000


def test_malformed_json_and_non_utf8_are_400():
    for body in (b"{", b'{"id": ', b"\xff\xfe"):
        with pytest.raises(IntakeError) as caught:
            parse_body(body, plans=PLANS, addons=ADDONS)
        assert caught.value.status == 400


def test_identical_repeat_inside_a_batch_is_dropped_different_one_conflicts():
    batch = parse({"events": [event(), event(), event(id="b")]})
    assert [e.id for e in batch] == ["evt_1", "evt_1", "b"]
    assert batch.pointers == ["/events/0", "/events/1", "/events/2"]
    assert parse(event()).pointers == [""]
    # Key order and whitespace do not matter: the comparison is on canonical JSON.
    reordered = dict(reversed(list(event().items())))
    assert len(parse({"events": [event(), reordered]})) == 2
    error = errors_of({"events": [event(), event(user="u2")]})
    assert error.status == 409
    assert error.errors[0]["field"] == "/events/1/id"


@pytest.mark.parametrize("text,expected", [
    ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
    ("2026-03-01t10:00:00z", "2026-03-01T10:00:00Z"),
    ("2026-03-01 12:00:00+02:00", "2026-03-01T10:00:00Z"),
    ("2026-03-01T05:30:00-04:30", "2026-03-01T10:00:00Z"),
    ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123456Z"),
    ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"),
])
def test_instants_are_normalized_to_utc_microseconds(text, expected):
    assert clock.format_us(parse_instant(text)) == expected


def test_microsecond_arithmetic_is_exact():
    assert parse_instant("1970-01-01T00:00:00.000001Z") == 1
    assert parse_instant("1969-12-31T23:59:59.999999Z") == -1
    assert parse_instant("2026-03-01T10:00:00Z") == 1772359200 * 1_000_000


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_instants_outside_datetime_range_are_a_field_error(text):
    error = errors_of(event(occurred_at=text))
    assert error.errors == [{"field": "/occurred_at", "reason": error.errors[0]["reason"]}]
    assert "range" in error.errors[0]["reason"]


# --- fuzz: whatever arrives, the answer is a Batch or an IntakeError (a 4xx), never a crash ------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
field_values = st.one_of(json_values, st.sampled_from(["2026-03-01T10:00:00Z", "0001-01-01T00:00:00+01:00",
                                                       "team", "sso", "stripe", "Europe/Berlin", "u1"]))
event_like = st.fixed_dictionaries(
    {}, optional={name: field_values for name in
                  ("id", "account", "occurred_at", "user", "users", "plan", "addons", "provider", "subscription",
                   "timezone", "extra")}
).flatmap(lambda d: st.sampled_from(sorted(VALID) + ["nope", 3]).map(lambda t: {**d, "type": t}))


@hyp_settings(max_examples=300, deadline=None)
@given(document=st.one_of(json_values, event_like, st.lists(event_like, max_size=4).map(lambda e: {"events": e})))
def test_any_json_document_is_a_batch_or_an_intake_error(document):
    try:
        batch = parse(document)
    except IntakeError as error:
        assert error.status in (400, 409, 413, 422)
        assert error.errors and all(set(e) == {"field", "reason"} for e in error.errors)
    else:
        assert len(batch) == len(batch.pointers) >= 1


@hyp_settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_any_bytes_are_a_batch_or_an_intake_error(body):
    try:
        parse_body(body, plans=PLANS, addons=ADDONS)
    except IntakeError as error:
        assert error.status in (400, 409, 413, 422)
