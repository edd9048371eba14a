"""adapter.ledger: the seat ledger answers the same whatever order and however often events arrive."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from adapter import clock, ledger, store
from adapter.clock import parse_instant
from adapter.intake.parse import parse_document
from adapter.ledger import EventConflict, PlanChange, SeatChange
from adapter.store.connection import open_db

PLANS = {"team", "business"}
ADDONS = {"sso", "audit_log"}
H = 3_600_000_000  # one hour in microseconds
T0 = parse_instant("2026-03-01T00:00:00Z")


def at(hours: float) -> int:
    return T0 + int(hours * H)


def iso(us: int) -> str:
    return clock.format_us(us)


def seat(event_id, user, hours, active=True, account="acme"):
    return {"id": event_id, "type": "seat.activated" if active else "seat.deactivated", "account": account,
            "user": user, "occurred_at": iso(at(hours))}


def snapshot(event_id, users, hours, account="acme"):
    return {"id": event_id, "type": "account.seats_snapshot", "account": account, "users": users,
            "occurred_at": iso(at(hours))}


def plan(event_id, name, hours, account="acme"):
    return {"id": event_id, "type": "account.plan_changed", "account": account, "plan": name,
            "occurred_at": iso(at(hours))}


def record(db, *events):
    return ledger.record_events(db, parse_document({"events": list(events)}, plans=PLANS, addons=ADDONS))


def test_count_and_users_at_an_instant(memory_db):
    record(memory_db, seat("a1", "ann", 1), seat("b1", "bob", 2), seat("a2", "ann", 3, active=False))
    assert ledger.seat_count(memory_db, "acme", at(0)) == 0
    assert ledger.active_users(memory_db, "acme", at(1)) == ["ann"]  # an event at T counts at T
    assert ledger.active_users(memory_db, "acme", at(2.5)) == ["ann", "bob"]
    assert ledger.active_users(memory_db, "acme", at(3)) == ["bob"]


def test_out_of_order_arrival_gives_the_same_answer(memory_db):
    record(memory_db, seat("a2", "ann", 3, active=False))
    record(memory_db, seat("a1", "ann", 1))
    assert ledger.seat_count(memory_db, "acme", at(2)) == 1
    assert ledger.seat_count(memory_db, "acme", at(4)) == 0


def test_duplicates_are_reported_and_not_stored_twice(memory_db):
    first = record(memory_db, seat("a1", "ann", 1))
    again = record(memory_db, seat("a1", "ann", 1), seat("b1", "bob", 1), seat("b1", "bob", 1))
    assert first.results == [{"id": "a1", "result": "accepted"}]
    assert again.results == [{"id": "a1", "result": "duplicate"}, {"id": "b1", "result": "accepted"},
                             {"id": "b1", "result": "duplicate"}]
    assert store.count_product_rows(memory_db)["product_events"] == 2
    assert again.affected_accounts == {"acme"}
    assert record(memory_db, seat("a1", "ann", 1)).affected_accounts == frozenset()


def test_same_id_different_body_conflicts_and_rolls_back_the_batch(memory_db):
    record(memory_db, seat("a1", "ann", 1))
    before = store.count_product_rows(memory_db)
    with pytest.raises(EventConflict) as caught:
        record(memory_db, seat("new", "cid", 1), seat("a1", "ann", 2))
    assert caught.value.errors[0]["field"] == "/events/1/id"
    assert store.count_product_rows(memory_db) == before


def test_deactivation_beats_activation_at_the_same_instant(memory_db):
    record(memory_db, seat("z", "ann", 1), seat("a", "ann", 1, active=False))
    assert ledger.seat_count(memory_db, "acme", at(1)) == 0
    assert ledger.changes(memory_db, "acme", at(0), at(2)) == []


def test_snapshot_sets_listed_active_and_everyone_else_inactive(memory_db):
    record(memory_db, seat("a1", "ann", 1), seat("b1", "bob", 1),
           snapshot("s1", ["bob", "cid"], 2), seat("d1", "dan", 3))
    assert ledger.active_users(memory_db, "acme", at(1.5)) == ["ann", "bob"]
    assert ledger.active_users(memory_db, "acme", at(2)) == ["bob", "cid"]
    assert ledger.active_users(memory_db, "acme", at(3)) == ["bob", "cid", "dan"]
    assert ledger.changes(memory_db, "acme", at(0), at(4)) == [
        SeatChange(at(1), "ann", True, "a1"), SeatChange(at(1), "bob", True, "b1"),
        SeatChange(at(2), "ann", False, "s1"), SeatChange(at(2), "cid", True, "s1"),
        SeatChange(at(3), "dan", True, "d1"),
    ]


def test_snapshot_covers_users_whose_earlier_events_arrive_after_it(memory_db):
    record(memory_db, snapshot("s1", ["bob"], 2))
    record(memory_db, seat("a1", "ann", 1))  # late: ann was active before the snapshot, which ends her seat
    assert ledger.active_users(memory_db, "acme", at(1)) == ["ann"]
    assert ledger.active_users(memory_db, "acme", at(2)) == ["bob"]


def test_seat_event_at_the_snapshot_instant_beats_the_snapshot(memory_db):
    record(memory_db, snapshot("s1", ["bob"], 2), seat("a1", "ann", 2), seat("b0", "bob", 2, active=False))
    assert ledger.active_users(memory_db, "acme", at(2)) == ["ann"]


def test_changes_window_is_half_open(memory_db):
    record(memory_db, seat("a1", "ann", 1), seat("a2", "ann", 2, active=False))
    assert ledger.changes(memory_db, "acme", at(1), at(2)) == [SeatChange(at(1), "ann", True, "a1")]
    assert ledger.changes(memory_db, "acme", at(1) + 1, at(2) + 1) == [SeatChange(at(2), "ann", False, "a2")]


def test_a_user_in_two_accounts_counts_in_both(memory_db):
    record(memory_db, seat("x", "ann", 1, account="acme"), seat("y", "ann", 1, account="globex"))
    assert ledger.seat_count(memory_db, "acme", at(1)) == 1
    assert ledger.seat_count(memory_db, "globex", at(1)) == 1


def test_plan_timeline_and_link(memory_db):
    linked = {"id": "l1", "type": "account.linked", "account": "acme", "provider": "chargebee",
              "subscription": "sub_9", "plan": "team", "timezone": "America/New_York", "occurred_at": iso(at(0))}
    record(memory_db, linked, plan("p2", "business", 5), plan("p1", "team", 3))
    assert ledger.plan_at(memory_db, "acme", at(-1)) is None
    assert ledger.plan_at(memory_db, "acme", at(4)) == "team"
    assert ledger.plan_at(memory_db, "acme", at(5)) == "business"
    # p1 repeats the plan in force: not a change.
    assert ledger.plan_changes(memory_db, "acme", at(0), at(6)) == [
        PlanChange(at(0), "team", "l1"), PlanChange(at(5), "business", "p2")]
    assert ledger.plan_changes(memory_db, "acme", at(1), at(5)) == []


def test_addons_timeline(memory_db):
    addons = lambda i, names, h: {"id": i, "type": "account.addons_changed", "account": "acme",  # noqa: E731
                                  "addons": names, "occurred_at": iso(at(h))}
    record(memory_db, addons("x2", [], 4), addons("x1", ["sso", "audit_log"], 2))
    assert ledger.addons_at(memory_db, "acme", at(1)) == ()
    assert ledger.addons_at(memory_db, "acme", at(3)) == ("audit_log", "sso")
    assert ledger.addons_at(memory_db, "acme", at(4)) == ()
    assert [(c.instant_us, c.addons) for c in ledger.addon_changes(memory_db, "acme", at(0), at(5))] == [
        (at(2), ("audit_log", "sso")), (at(4), ())]


def test_later_link_wins_whatever_the_arrival_order(memory_db):
    link = lambda i, sub, h: {"id": i, "type": "account.linked", "account": "acme", "provider": "stripe",  # noqa: E731
                              "subscription": sub, "plan": "team", "occurred_at": iso(at(h))}
    record(memory_db, link("l2", "sub_new", 2))
    record(memory_db, link("l1", "sub_old", 1))
    assert store.account_link(memory_db, "acme")["subscription"] == "sub_new"
    assert store.account_link(memory_db, "acme")["timezone"] is None


def test_committed_batches_mark_accounts_for_seat_sync(memory_db):
    record(memory_db, seat("x", "ann", 1), seat("y", "bob", 1, account="globex"))
    assert store.sync_state(memory_db, "acme")["ledger_version"] == 1
    assert store.sync_state(memory_db, "globex")["ledger_version"] == 1


def test_data_survives_closing_and_reopening_the_file(tmp_path):
    path = tmp_path / "ledger.db"
    db = open_db(path)
    record(db, seat("a1", "ann", 1), snapshot("s1", ["ann", "bob"], 2))
    db.close()
    reopened = open_db(path)
    assert ledger.active_users(reopened, "acme", at(3)) == ["ann", "bob"]
    assert record(reopened, seat("a1", "ann", 1)).results == [{"id": "a1", "result": "duplicate"}]


# --- property: order and duplicates do not matter; the answers match a per-user oracle ------------


def oracle_state(events, account, t):
    """{user: deciding event id} by the documented rules, computed per user from scratch."""
    users = {e["user"] for e in events if e.get("user") and e["account"] == account}
    users |= {u for e in events if e["type"] == "account.seats_snapshot" and e["account"] == account
              for u in e["users"]}
    state = {}
    for user in users:
        best = None
        for e in events:
            if e["account"] != account or parse_instant(e["occurred_at"]) > t:
                continue
            when = parse_instant(e["occurred_at"])
            if e["type"] == "account.seats_snapshot":
                key, active = (when, 0, 0, e["id"]), user in e["users"]
            elif e.get("user") == user:
                active = e["type"] == "seat.activated"
                key = (when, 1, 0 if active else 1, e["id"])
            else:
                continue
            if best is None or key > best[0]:
                best = (key, active, e["id"])
        if best and best[1]:
            state[user] = best[2]
    return state


USERS = ["ann", "bob", "cid"]
event_strategy = st.one_of(
    st.tuples(st.just("seat"), st.sampled_from(USERS), st.booleans(), st.integers(0, 3),
              st.sampled_from(["acme", "globex"])),
    st.tuples(st.just("snap"), st.lists(st.sampled_from(USERS), unique=True), st.none(), st.integers(0, 3),
              st.just("acme")),
    st.tuples(st.just("plan"), st.sampled_from(sorted(PLANS)), st.none(), st.integers(0, 3), st.just("acme")),
)


def build(specs):
    events = []
    for index, (kind, what, active, hours, account) in enumerate(specs):
        event_id = f"e{index:02d}"
        if kind == "seat":
            events.append(seat(event_id, what, hours, active=active, account=account))
        elif kind == "snap":
            events.append(snapshot(event_id, what, hours))
        else:
            events.append(plan(event_id, what, hours))
    return events


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(event_strategy, min_size=1, max_size=14), data=st.data())
def test_any_permutation_with_duplicates_yields_the_same_ledger(specs, data):
    events = build(specs)
    shuffled = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6))))
    cuts = sorted(data.draw(st.lists(st.integers(1, len(shuffled)), max_size=4, unique=True)))
    in_order, permuted = open_db(None), open_db(None)
    try:
        record(in_order, *events)
        for start, end in zip([0] + cuts, cuts + [len(shuffled)]):
            if start < end:
                record(permuted, *shuffled[start:end])
        for account in ("acme", "globex"):
            for hours in range(-1, 5):
                t = at(hours)
                expected = oracle_state(events, account, t)
                assert ledger.active_users(in_order, account, t) == sorted(expected)
                assert ledger.active_users(permuted, account, t) == sorted(expected)
                assert ledger.plan_at(in_order, account, t) == ledger.plan_at(permuted, account, t)
            window = (at(-1), at(8))
            changes = ledger.changes(in_order, account, *window)
            assert changes == ledger.changes(permuted, account, *window)
            assert ledger.plan_changes(in_order, account, *window) == ledger.plan_changes(permuted, account, *window)
            # The changes replay to the oracle's state at every instant, deciding events included.
            replayed = {}
            for change in changes:
                if change.active:
                    replayed[change.user] = change.event_id
                else:
                    replayed.pop(change.user, None)
                if change is changes[-1] or changes[changes.index(change) + 1].instant_us != change.instant_us:
                    assert set(replayed) == set(oracle_state(events, account, change.instant_us))
        assert json.loads(json.dumps(store.count_product_rows(permuted))) == store.count_product_rows(in_order)
    finally:
        in_order.close()
        permuted.close()


def test_record_batches_isolates_a_conflicting_batch_and_sees_earlier_ones(memory_db):
    """The group commit's path: each batch all or nothing, later batches see earlier ones."""
    record(memory_db, seat("old", "ann", 1))
    batch = lambda *events: parse_document({"events": list(events)}, plans=PLANS, addons=ADDONS)  # noqa: E731
    with store.write_transaction(memory_db):
        outcomes = ledger.record_batches(memory_db, [
            batch(seat("a", "bob", 2)),
            batch(seat("b", "cid", 2), seat("old", "eve", 1)),  # reuses "old" with another body
            batch(seat("a", "bob", 2), seat("c", "dan", 3)),
        ])
    assert outcomes[0].results == [{"id": "a", "result": "accepted"}]
    assert isinstance(outcomes[1], EventConflict)
    assert outcomes[1].errors[0]["field"] == "/events/1/id"
    assert outcomes[2].results == [{"id": "a", "result": "duplicate"}, {"id": "c", "result": "accepted"}]
    assert outcomes[2].affected_accounts == {"acme"}
    assert ledger.active_users(memory_db, "acme", at(3)) == ["ann", "bob", "dan"]  # no "cid": batch 2 left out


def test_changes_touch_only_the_users_of_each_instant(memory_db, monkeypatch):
    """changes() must not copy the whole account state per instant (it once took 57 s for 100k events)."""
    events = [seat(f"a{u}", f"u{u}", 0) for u in range(300)]
    events += [seat(f"x{i}", f"u{i % 300}", 1 + i / 1000, active=i % 2 == 1) for i in range(600)]
    record(memory_db, *events)
    compared = []
    real_sorted = sorted

    def counting_sorted(items, *args, **kwargs):
        result = real_sorted(items, *args, **kwargs)
        compared.append(len(result))
        return result

    monkeypatch.setattr("builtins.sorted", counting_sorted)
    found = ledger.changes(memory_db, "acme", at(0.5), at(2))
    monkeypatch.undo()
    assert len(found) == 150  # even users are deactivated (twice: one change); odd ones stay active
    assert sum(compared) < 2_000  # per instant only the touched users, not all 300
