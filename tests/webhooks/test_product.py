"""POST /webhooks/product through the Flask test client: verify → intake → ledger, all or nothing."""

import json
import time
from datetime import UTC, datetime

import pytest

from adapter import ledger, store
from adapter.clock import parse_instant
from adapter.intake.signing import sign
from tests.conftest import PRODUCT_SECRET, ROTATED_SECRET

URL = "/webhooks/product"
T = "2026-03-01T10:00:00Z"


def seat(event_id="evt_1", user="ann", active=True, account="acme", occurred_at=T):
    return {"id": event_id, "type": "seat.activated" if active else "seat.deactivated", "account": account,
            "user": user, "occurred_at": occurred_at}


def post(client, document=None, *, body=None, secret=PRODUCT_SECRET, at=None, drop=(), headers=None,
         content_type="application/json"):
    body = json.dumps(document) if body is None else body
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    signed = sign(secret, text, "msg_test", at)
    for name in drop:
        signed.pop(name)
    signed.update(headers or {})
    if content_type:
        signed["Content-Type"] = content_type
    return client.post(URL, data=body, headers=signed)


def rows(db):
    return store.count_product_rows(db)


@pytest.fixture
def empty(db):
    return rows(db)


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and problem["title"]
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem


def test_single_event_is_accepted_and_recorded(client, db):
    response = post(client, seat())
    assert response.status_code == 202
    assert response.get_json() == {"results": [{"id": "evt_1", "result": "accepted"}]}
    assert ledger.active_users(db, "acme", parse_instant(T)) == ["ann"]


def test_batch_with_repeats_gets_a_result_per_event(client, db):
    batch = {"events": [seat("a"), seat("b", "bob"), seat("a")]}
    assert post(client, batch).get_json()["results"] == [
        {"id": "a", "result": "accepted"}, {"id": "b", "result": "accepted"}, {"id": "a", "result": "duplicate"}]
    again = post(client, batch)
    assert again.status_code == 202
    assert [r["result"] for r in again.get_json()["results"]] == ["duplicate"] * 3
    assert rows(db)["product_events"] == 2


def test_every_event_type_through_http(client, db):
    events = [
        {"id": "l", "type": "account.linked", "account": "acme", "provider": "stripe", "subscription": "sub_1",
         "plan": "team-monthly", "timezone": "Europe/Berlin", "occurred_at": "2026-03-01T00:00:00Z"},
        {"id": "p", "type": "account.plan_changed", "account": "acme", "plan": "standard-monthly",
         "occurred_at": "2026-03-02T00:00:00Z"},
        {"id": "s", "type": "account.seats_snapshot", "account": "acme", "users": ["ann", "bob"],
         "occurred_at": "2026-03-01T00:00:00Z"},
        {"id": "x", "type": "account.addons_changed", "account": "acme", "addons": ["konfidens-sms-monthly"],
         "occurred_at": "2026-03-01T00:00:00Z"},
        seat("d", "bob", active=False, occurred_at="2026-03-01T12:00:00+01:00"),
    ]
    assert post(client, {"events": events}).status_code == 202
    assert ledger.active_users(db, "acme", parse_instant("2026-03-01T11:00:00Z")) == ["ann"]
    assert ledger.plan_at(db, "acme", parse_instant("2026-03-03T00:00:00Z")) == "standard-monthly"
    assert ledger.addons_at(db, "acme", parse_instant(T)) == ("konfidens-sms-monthly",)
    assert store.account_link(db, "acme")["timezone"] == "Europe/Berlin"


# --- signatures: 401, nothing stored ---------------------------------------------------------


def test_rotated_secret_verifies(settings, db):
    from dataclasses import replace

    from webhooks import create_app
    client = create_app(replace(settings, product_secrets=(ROTATED_SECRET, PRODUCT_SECRET))).test_client()
    assert post(client, seat("old"), secret=PRODUCT_SECRET).status_code == 202
    assert post(client, seat("new"), secret=ROTATED_SECRET).status_code == 202


@pytest.mark.parametrize("case,kwargs,field", [
    ("wrong secret", {"secret": ROTATED_SECRET}, "webhook-signature"),
    ("stale", {"at": -400}, "webhook-timestamp"),
    ("future", {"at": +400}, "webhook-timestamp"),
    ("no id", {"drop": ["webhook-id"]}, "webhook-id"),
    ("no timestamp", {"drop": ["webhook-timestamp"]}, "webhook-timestamp"),
    ("no signature", {"drop": ["webhook-signature"]}, "webhook-signature"),
    ("malformed signature", {"headers": {"webhook-signature": "v1"}}, "webhook-signature"),
    ("bad base64", {"headers": {"webhook-signature": "v1,***"}}, "webhook-signature"),
    ("other message id", {"headers": {"webhook-id": "msg_other"}}, "webhook-signature"),
])
def test_signature_failures_are_401_naming_the_header(client, db, empty, case, kwargs, field):
    if "at" in kwargs:  # an offset from now, taken when the test runs (not when it is collected)
        kwargs = {"at": datetime.fromtimestamp(time.time() + kwargs["at"], tz=UTC)}
    problem = assert_problem(post(client, seat(), **kwargs), 401, field)
    assert field in problem["detail"]
    assert rows(db) == empty


def test_tampered_body_is_401(client, db, empty):
    original = json.dumps(seat())
    headers = sign(PRODUCT_SECRET, original, "msg_1")
    tampered = original.replace("ann", "eve")
    response = client.post(URL, data=tampered, headers={**headers, "Content-Type": "application/json"})
    assert_problem(response, 401, "webhook-signature")
    assert rows(db) == empty


def test_unsigned_garbage_is_401_not_400(client, db, empty):
    response = client.post(URL, data=b"\xff{", headers={"Content-Type": "application/json"})
    assert_problem(response, 401, "webhook-id")


# --- 400 / 413 / 415 / 422 / 409: problem JSON naming the field, nothing stored -------------------


@pytest.mark.parametrize("body", ["{", '{"events": [', "", "null x"])
def test_malformed_json_is_400(client, db, empty, body):
    assert_problem(post(client, body=body), 400)
    assert rows(db) == empty


def test_non_utf8_body_cannot_verify(client, db, empty):
    # standardwebhooks signs and verifies text, so no signature can match bytes that are not UTF-8
    # (and JSON on the wire must be UTF-8 anyway): the answer says why.
    problem = assert_problem(post(client, body=b'{"a": "\xff"}'), 401, "webhook-signature")
    assert "UTF-8" in problem["detail"]
    assert rows(db) == empty


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, db, empty, content_type):
    assert_problem(post(client, seat(), content_type=content_type), 415, "Content-Type")
    assert rows(db) == empty


def test_charset_parameter_is_fine(client):
    assert post(client, seat(), content_type="application/json; charset=utf-8").status_code == 202


def test_more_than_1000_events_is_413(client, db, empty):
    problem = assert_problem(post(client, {"events": [seat(f"e{i}") for i in range(1001)]}), 413, "/events")
    assert "1000" in problem["errors"][0]["reason"]
    assert rows(db) == empty
    assert post(client, {"events": [seat(f"e{i}", f"u{i}") for i in range(1000)]}).status_code == 202
    assert rows(db)["product_events"] == 1000


def test_body_over_the_size_limit_is_413_problem_json(app, client, db, empty):
    huge = json.dumps({"events": [seat(user="u" * 200)], "pad": "x" * app.config["MAX_CONTENT_LENGTH"]})
    assert_problem(post(client, body=huge), 413)
    assert rows(db) == empty


def test_one_bad_event_rejects_the_whole_batch(client, db, empty):
    batch = {"events": [seat("a"), seat("b", occurred_at="2026-03-01T10:00:00"), seat("c", user="")]}
    problem = assert_problem(post(client, batch), 422)
    assert [e["field"] for e in problem["errors"]] == ["/events/1/occurred_at", "/events/2/user"]
    assert rows(db) == empty


@pytest.mark.parametrize("event,field", [
    ({"type": "seat.activated"}, "/id"),
    (seat() | {"type": "seat.exploded"}, "/type"),
    (seat() | {"plan": "team-monthly"}, "/plan"),
    ({"id": "p", "type": "account.plan_changed", "account": "a", "occurred_at": T, "plan": "gold"}, "/plan"),
    ({"id": "x", "type": "account.addons_changed", "account": "a", "occurred_at": T, "addons": ["warp"]},
     "/addons/0"),
    ({"id": "l", "type": "account.linked", "account": "a", "occurred_at": T, "provider": "stripe",
      "subscription": "s", "plan": "team-monthly", "timezone": "Nowhere/Special"}, "/timezone"),
])
def test_schema_errors_are_422_naming_the_field(client, db, empty, event, field):
    assert_problem(post(client, event), 422, field)
    assert rows(db) == empty


def test_same_id_with_a_different_body_is_409_and_stores_nothing(client, db):
    assert post(client, seat("a")).status_code == 202
    before = rows(db)
    problem = assert_problem(post(client, {"events": [seat("b", "bob"), seat("a", "eve")]}), 409, "/events/1/id")
    assert "different body" in problem["errors"][0]["reason"]
    assert rows(db) == before
    assert_problem(post(client, {"events": [seat("c"), seat("c", "eve")]}), 409, "/events/1/id")
    assert rows(db) == before


def test_other_methods_are_405_problem_json(client):
    response = client.get(URL)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_a_broken_catalogue_stops_start_up_naming_the_setting(settings, tmp_path):
    from dataclasses import replace

    from adapter.config import ConfigError
    from webhooks import create_app
    broken = tmp_path / "mappings"
    broken.mkdir()
    (broken / "bad.toml").write_text("[plans.x]\nprovider = 'paypal'\n")
    with pytest.raises(ConfigError) as caught:
        create_app(replace(settings, mappings=broken))
    assert caught.value.variable == "SEATSYNC_MAPPINGS"
    assert "\n" not in str(caught.value)


def test_signature_entries_of_other_versions_are_skipped_over_http(client, db):
    """Issue 12: a non-base64 entry of an unknown version beside a valid v1 entry was refused (401)."""
    document = seat("evt_versions")
    body = json.dumps(document)
    headers = sign(PRODUCT_SECRET, body, "msg_versions")
    headers["webhook-signature"] = f"v1a,not*base64!! v9,?? {headers['webhook-signature']}"
    response = client.post(URL, data=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 202, response.get_data(as_text=True)
