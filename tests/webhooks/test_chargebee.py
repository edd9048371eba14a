"""POST /webhooks/chargebee: basic auth in constant time, stored once, nothing stored on failure."""

import base64
import json
from dataclasses import replace

import pytest

from adapter import store
from tests.fixtures import load

URL = "/webhooks/chargebee"
USER, PASSWORD = "chargebee-hooks", "s3cret:with:colons"


@pytest.fixture
def client(settings):
    from webhooks import create_app

    app = create_app(replace(settings, chargebee_webhook_user=USER, chargebee_webhook_password=PASSWORD))
    app.config["TESTING"] = True
    return app.test_client()


def basic(user, password) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(client, event, authorization=None):
    headers = {"Content-Type": "application/json"}
    if authorization is not False:
        headers["Authorization"] = authorization or basic(USER, PASSWORD)
    return client.post(URL, data=json.dumps(event), headers=headers)


def nothing_stored(db) -> bool:
    return all(count == 0 for count in store.count_provider_rows(db).values())


def test_authenticated_event_is_stored_and_answered_2xx(client, db):
    event = load("chargebee/subscription_created.json")
    response = post(client, event)
    assert response.status_code == 200 and response.json == {"received": True, "duplicate": False}
    [row] = store.provider_event_rows(db)
    assert (row["event_id"], row["type"], row["object_type"], row["object_id"], row["created"]) == \
        ("ev_AzZevt0001", "subscription_created", "subscription", "AzZsub01", 1767225600)


@pytest.mark.parametrize("authorization", [
    False, basic(USER, "wrong"), basic("someone", PASSWORD), "Basic not-base64!", "Bearer abc", basic(USER, ""),
])
def test_bad_or_missing_credentials_are_401_and_store_nothing(client, db, authorization):
    response = post(client, load("chargebee/subscription_created.json"), authorization)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.json["errors"][0]["field"] == "Authorization"
    assert nothing_stored(db)


def test_unconfigured_credentials_reject_everything(settings, db):
    from webhooks import create_app

    response = post(create_app(settings).test_client(), load("chargebee/subscription_created.json"))
    assert response.status_code == 401
    assert nothing_stored(db)


def test_duplicates_are_stored_once(client, db):
    event = load("chargebee/payment_failed.json")
    assert [post(client, event).json["duplicate"] for _ in range(3)] == [False, True, True]
    [row] = store.provider_event_rows(db)
    assert row["seen_count"] == 3


@pytest.mark.parametrize("change, field", [
    ({"api_version": "v1"}, "/api_version"),
    ({"content": None}, "/content"),
    ({"occurred_at": "yesterday"}, "/occurred_at"),
    ({"event_type": ""}, "/event_type"),
])
def test_malformed_events_are_400_and_store_nothing(client, db, change, field):
    response = post(client, load("chargebee/subscription_created.json") | change)
    assert response.status_code == 400
    assert [e["field"] for e in response.json["errors"]] == [field]
    assert nothing_stored(db)


def test_constant_time_check_requires_both_halves():
    from webhooks.chargebee import authenticated

    assert authenticated(basic(USER, PASSWORD), USER, PASSWORD)
    assert not authenticated(basic(USER, PASSWORD), USER, None)
    assert not authenticated(basic(USER, PASSWORD + "x"), USER, PASSWORD)
    assert not authenticated("Basic " + base64.b64encode(b"no-colon").decode(), USER, PASSWORD)


@pytest.mark.parametrize("raw, expected", [(None, False), ("true", True), ("1", True), ("off", False)])
def test_refetch_setting_is_read_from_the_environment(raw, expected):
    from adapter.config import load_settings

    env = {} if raw is None else {"CHARGEBEE_WEBHOOK_REFETCH": raw}
    assert load_settings(env).chargebee_refetch_events is expected


def test_refetch_setting_rejects_nonsense():
    from adapter.config import ConfigError, load_settings

    with pytest.raises(ConfigError) as error:
        load_settings({"CHARGEBEE_WEBHOOK_REFETCH": "maybe"})
    assert error.value.variable == "CHARGEBEE_WEBHOOK_REFETCH"
