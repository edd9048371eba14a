"""Issue 12: one subscription bills one account, through POST /webhooks/product (Flask test client).

Before: an ``account.linked`` for B naming A's subscription was accepted (202) and B's seats then moved
A's quantity. Now it is a 409 naming both accounts and nothing is stored; moving a subscription needs an
``account.unlinked`` for the holder first.
"""

from __future__ import annotations

import json

import pytest

from adapter import accounts, store
from adapter.store import MIGRATIONS, open_db
from tests.webhooks.test_product import assert_problem, post, rows


def link(account, subscription="sub_A", event_id=None, at="2026-03-01T00:00:00Z", provider="stripe"):
    return {"id": event_id or f"link-{account}-{subscription}", "type": "account.linked", "account": account,
            "provider": provider, "subscription": subscription, "plan": "standard-monthly", "occurred_at": at}


def unlink(account, event_id=None, at="2026-03-02T00:00:00Z"):
    return {"id": event_id or f"unlink-{account}", "type": "account.unlinked", "account": account,
            "occurred_at": at}


def seat(account, user, event_id, at="2026-03-03T00:00:00Z"):
    return {"id": event_id, "type": "seat.activated", "account": account, "user": user, "occurred_at": at}


def test_a_link_to_a_subscription_of_another_account_is_409_naming_both_and_stores_nothing(client, db):
    assert post(client, link("acct-a")).status_code == 202
    before = rows(db)
    takeover = {"events": [link("acct-b", at="2026-03-05T00:00:00Z")] +
                          [seat("acct-b", f"u{n}", f"b-seat-{n}") for n in range(20)]}
    response = post(client, takeover)
    problem = assert_problem(response, 409, "/events/0/subscription")
    assert "acct-a" in problem["detail"] and "acct-b" in problem["detail"]
    assert "acct-a" in problem["errors"][0]["reason"] and "acct-b" in problem["errors"][0]["reason"]
    assert rows(db) == before
    assert accounts.get_account(db, "acct-b") is None
    assert accounts.get_account(db, "acct-a").subscription == "sub_A"


def test_the_same_provider_with_another_subscription_or_another_provider_is_fine(client, db):
    assert post(client, {"events": [link("acct-a"), link("acct-b", "sub_B"),
                                    link("acct-c", "sub_A", provider="chargebee")]}).status_code == 202
    assert {a.account: (a.provider, a.subscription) for a in accounts.all_accounts(db)} == {
        "acct-a": ("stripe", "sub_A"), "acct-b": ("stripe", "sub_B"), "acct-c": ("chargebee", "sub_A")}


def test_two_accounts_claiming_one_subscription_in_one_batch_is_409(client, db):
    before = rows(db)
    response = post(client, {"events": [link("acct-a"), link("acct-b")]})
    assert_problem(response, 409, "/events/1/subscription")
    assert rows(db) == before


def test_moving_a_subscription_takes_an_unlink_of_its_holder_first(client, db):
    assert post(client, link("acct-a")).status_code == 202
    moved = post(client, {"events": [unlink("acct-a"), link("acct-b", at="2026-03-03T00:00:00Z")]})
    assert moved.status_code == 202, moved.get_data(as_text=True)
    assert accounts.get_account(db, "acct-a") is None
    assert accounts.get_account(db, "acct-b").subscription == "sub_A"
    # A's old link arriving again (a product retry) is a duplicate and changes nothing.
    assert post(client, link("acct-a")).get_json()["results"] == [{"id": "link-acct-a-sub_A", "result": "duplicate"}]
    assert accounts.get_account(db, "acct-a") is None


def test_an_unlink_decides_by_instant_whatever_the_arrival_order(client, db):
    assert post(client, unlink("acct-a", at="2026-03-02T00:00:00Z")).status_code == 202
    # A link older than the unlink arrives late: it is stored as history but does not link the account.
    assert post(client, link("acct-a", at="2026-03-01T00:00:00Z")).status_code == 202
    assert accounts.get_account(db, "acct-a") is None
    # The older link does not hold the subscription either.
    assert post(client, link("acct-b", at="2026-03-04T00:00:00Z")).status_code == 202
    # A newer link of A would beat the unlink, but B holds sub_A now: refused.
    assert_problem(post(client, link("acct-a", event_id="relink", at="2026-03-05T00:00:00Z")), 409)


@pytest.mark.parametrize("extra, field", [({"subscription": "sub_A"}, "/subscription"), ({"account": ""}, "/account")])
def test_unlink_is_validated_like_every_event(client, db, extra, field):
    before = rows(db)
    assert_problem(post(client, {**unlink("acct-a"), **extra}), 422, field)
    assert rows(db) == before


def test_unlink_without_a_link_is_accepted_and_harmless(client, db):
    assert post(client, unlink("nobody")).status_code == 202
    assert accounts.get_account(db, "nobody") is None


def test_duplicate_links_stored_before_the_rule_keep_the_earliest_and_are_listed(tmp_path):
    """The migration that adds the unique index: existing duplicates are not dropped silently."""
    path = tmp_path / "old.db"
    old = open_db(path, migrate=False)
    MIGRATIONS.apply(old, stop_before="0800_one_subscription_one_account")
    for n, (account, at) in enumerate([("acct-a", 1), ("acct-b", 5), ("acct-c", 3)]):
        old.execute("INSERT INTO product_events (id, type, account, occurred_us, received_us, body) "
                    "VALUES (?, 'account.linked', ?, ?, 0, '{}')", [f"e{n}", account, at])
        old.execute("INSERT INTO accounts (account, provider, subscription, plan, timezone, linked_us, event_id) "
                    "VALUES (?, 'stripe', 'sub_A', 'standard-monthly', NULL, ?, ?)", [account, at, f"e{n}"])
    old.close()
    db = open_db(path)
    assert [row["account"] for row in store.linked_accounts(db)] == ["acct-a"]
    kept = {row["account"]: row["kept_account"] for row in db.query("SELECT * FROM link_conflicts")}
    assert kept == {"acct-b": "acct-a", "acct-c": "acct-a"}
    with pytest.raises(Exception, match="UNIQUE"):
        db.execute("INSERT INTO accounts (account, provider, subscription, plan, timezone, linked_us, event_id) "
                   "VALUES ('acct-d', 'stripe', 'sub_A', 'p', NULL, 9, 'e0')")


def test_provider_metadata_naming_another_account_never_moves_a_linked_subscription(settings, tmp_path):
    """Auto-link (adapter/callbacks/events.py): a Stripe webhook whose subscription metadata names another
    account, received over HTTP and processed by the worker, leaves the link with its holder."""
    from dataclasses import replace

    from adapter.callbacks import events as provider_events
    from tests.callbacks.test_events import MAPPING
    from tests.fixtures import load, stripe_event, stripe_signature
    from webhooks import create_app

    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "seats.toml").write_text(MAPPING)
    secret = "whsec_stripe_endpoint_tenancy_0123456789"
    settings = replace(settings, mappings=tmp_path / "mappings", stripe_webhook_secrets=(secret,))
    client = create_app(settings).test_client()
    holder = {**link("acct-a", "sub_1Q2w3e4r"), "plan": "seat-monthly"}
    assert post(client, holder).status_code == 202
    sub = load("stripe/subscription.json")
    sub["metadata"] = {**sub.get("metadata", {}), "seatsync_account": "acct-evil"}
    event = stripe_event("customer.subscription.updated", sub, created=1767225700, event_id="evt_takeover")
    body = json.dumps(event).encode()
    response = client.post("/webhooks/stripe", data=body, headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, secret, None)})
    assert response.status_code == 200, response.get_data(as_text=True)
    db = open_db(settings.database)
    provider_events.process_pending_provider_events(db, settings, fetchers={})
    assert accounts.get_account(db, "acct-evil") is None
    assert accounts.get_account(db, "acct-a").subscription == "sub_1Q2w3e4r"
    db.close()


# --- accounts never linked (SEATSYNC_UNLINKED_EVENTS) -----------------------------------------------------


def unlinked_notifications(db):
    return [row for row in store.delivery_rows(db, limit=100) if row["type"] == "seats.unlinked"]


def test_accept_stores_seat_events_of_an_unlinked_account_and_notifies_once_a_day(client, db):
    assert post(client, {"events": [seat("demo-standrd", "alice", "s1"), seat("demo-standrd", "bob", "s2")]}) \
        .status_code == 202
    assert post(client, seat("demo-standrd", "carol", "s3")).status_code == 202
    assert rows(db)["seat_facts"] == 3
    [note] = unlinked_notifications(db)
    assert note["account"] == "demo-standrd" and json.loads(note["body"])["data"]["account"] == "demo-standrd"
    assert post(client, {"events": [link("acct-a"), seat("acct-a", "ann", "s4")]}).status_code == 202
    assert len(unlinked_notifications(db)) == 1  # a linked account is not reported


@pytest.fixture
def strict_client(settings):
    from dataclasses import replace

    from webhooks import create_app

    return create_app(replace(settings, unlinked_events="reject")).test_client()


def test_reject_refuses_seat_events_of_an_account_never_linked_naming_it(strict_client, db):
    before = rows(db)
    response = post(strict_client, {"events": [seat("demo-standrd", "alice", "s1")]})
    problem = assert_problem(response, 422, "/events/0/account")
    assert "demo-standrd" in problem["errors"][0]["reason"]
    assert rows(db) == before and unlinked_notifications(db) == []


def test_reject_counts_a_link_earlier_in_the_same_batch_but_not_a_later_one(strict_client, db):
    assert_problem(post(strict_client, {"events": [seat("acct-a", "ann", "s1"), link("acct-a")]}), 422,
                   "/events/0/account")
    assert post(strict_client, {"events": [link("acct-a"), seat("acct-a", "ann", "s1")]}).status_code == 202
    assert post(strict_client, seat("acct-a", "bob", "s2")).status_code == 202  # linked earlier: fine
    # Unlinked since, but linked once: its events are not a typo.
    assert post(strict_client, unlink("acct-a")).status_code == 202
    assert post(strict_client, seat("acct-a", "carol", "s3")).status_code == 202


def test_auto_link_does_not_link_back_an_account_the_product_unlinked(settings, tmp_path):
    from dataclasses import replace

    from adapter.callbacks import events as provider_events
    from tests.callbacks.test_events import MAPPING
    from tests.fixtures import load, stripe_event, stripe_signature
    from webhooks import create_app

    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "seats.toml").write_text(MAPPING)
    secret = "whsec_stripe_endpoint_tenancy_0123456789"
    settings = replace(settings, mappings=tmp_path / "mappings", stripe_webhook_secrets=(secret,))
    client = create_app(settings).test_client()
    sub = load("stripe/subscription.json")  # its metadata names acct_acme
    assert post(client, {"events": [{**link("acct_acme", sub["id"]), "plan": "seat-monthly"},
                                    unlink("acct_acme")]}).status_code == 202
    body = json.dumps(stripe_event("customer.subscription.updated", sub, created=1767225700,
                                   event_id="evt_stale")).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, secret, None)}
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    db = open_db(settings.database)
    provider_events.process_pending_provider_events(db, settings, fetchers={})
    assert accounts.get_account(db, "acct_acme") is None
    db.close()
