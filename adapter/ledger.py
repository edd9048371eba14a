"""The seat ledger: record product events, answer seat, plan and addon questions.

Every accepted event is stored; nothing is updated in place. Answers are
derived from the stored facts sorted by instant, so they do not depend on the
order events arrived in or on duplicates.

Ordering rules (per account and user; the latest fact decides):
1. Later ``occurred_at`` wins.
2. At one instant a per-user seat event beats a snapshot: the snapshot states
   the list "as of" that instant, the seat event is the more specific fact.
3. At one instant a deactivation beats an activation. Either choice would be
   deterministic; this one never bills a seat the product also said was
   released at that instant, and it commutes (no event id involved).
4. Two snapshots at one instant: the higher event id wins (the only rule left
   that can pick; it is arbitrary but stable).
Plans and addon sets: latest instant wins, then the higher event id.

A snapshot sets every listed user active and every other user of the account
inactive at its instant. It is applied at query time, not by writing
per-user rows, so a user whose events arrive after the snapshot is still
covered by it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlite_utils

from adapter import store
from adapter.clock import now_us
from adapter.intake.parse import (
    AccountLinked,
    AccountUnlinked,
    AddonsChanged,
    Batch,
    Event,
    IntakeError,
    PlanChanged,
    SeatActivated,
    SeatDeactivated,
    SeatsSnapshot,
)


class EventConflict(Exception):
    """An event id is already stored with a different body; ``errors`` names each."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"conflicting event ids: {errors}")
        self.errors = errors


class LinkConflict(Exception):
    """An ``account.linked`` names a subscription another account is linked to (one subscription, one account).

    ``errors`` names the field and both accounts; the batch is refused whole (409)."""

    def __init__(self, errors: list[dict], accounts: tuple[str, str]):
        super().__init__(f"subscription already linked: {errors}")
        self.errors = errors
        self.accounts = accounts


@dataclass(frozen=True)
class RecordResult:
    """What a committed batch did. ``affected_accounts`` had at least one new event (the seat sync hook)."""

    results: list[dict]
    affected_accounts: frozenset[str]


@dataclass(frozen=True)
class SeatChange:
    instant_us: int
    user: str
    active: bool
    event_id: str


@dataclass(frozen=True)
class PlanChange:
    instant_us: int
    plan: str
    event_id: str


@dataclass(frozen=True)
class AddonsChange:
    instant_us: int
    addons: tuple[str, ...]
    event_id: str



def record_events(db: sqlite_utils.Database, events: Batch | Iterable[Event], *, received_us: int | None = None,
                  pointers: list[str] | None = None) -> RecordResult:
    """Store a validated batch in one write transaction: all of it, or (on a conflict) none of it.

    An id already stored with the same canonical body is a ``duplicate``; with
    a different body nothing is stored and ``EventConflict`` is raised.
    Inside the same transaction the affected accounts are marked for seat sync.
    """
    if not isinstance(events, Batch):
        events = list(events)
        events = Batch(events, pointers or [f"/events/{index}" for index in range(len(events))])
    elif pointers:
        events = Batch(events.events, pointers)
    with store.write_transaction(db):
        (outcome,) = record_batches(db, [events], received_us=received_us)
    if isinstance(outcome, (EventConflict, LinkConflict, IntakeError)):
        raise outcome
    return outcome


def record_batches(db: sqlite_utils.Database, batches: list[Batch], *, received_us: int | None = None,
                   unlinked_events: str = "accept",
                   on_unlinked: Callable[[sqlite_utils.Database, str, int], object] | None = None,
                   ) -> list[RecordResult | EventConflict | LinkConflict | IntakeError]:
    """Record several independent batches at once; call inside a write transaction.

    The group commit's path: one lookup and one insert per table for the whole
    group. Conflicts are found before anything is written, so a conflicting
    batch is left out whole (its outcome is the ``EventConflict``) and the
    others are recorded; a later batch sees an earlier one's events.

    Seat events of an account never linked (no ``account.linked`` stored, earlier in the batch or in an
    earlier batch of the group): ``unlinked_events="reject"`` refuses the batch (422 naming the account);
    ``"accept"`` records them and calls ``on_unlinked(db, account, received_us)`` in the transaction
    (the product is told: a mistyped account id is otherwise a seat nobody ever bills).
    """
    received_us = now_us() if received_us is None else received_us
    links = _Links(db)
    stored = store.stored_event_bodies(db, list({event.id for batch in batches for event in batch}))
    accepted: dict[str, Event] = {}
    outcomes: list[RecordResult | EventConflict | LinkConflict | IntakeError] = []
    for batch in batches:
        new: dict[str, Event] = {}
        results, conflicts = [], []
        for pointer, event in zip(batch.pointers, batch.events):
            known = stored.get(event.id)
            if known is None:
                earlier = accepted.get(event.id) or new.get(event.id)
                known = earlier.body if earlier is not None else None
            if known is None:
                new[event.id] = event
                results.append({"id": event.id, "result": "accepted"})
            elif known == event.body:
                results.append({"id": event.id, "result": "duplicate"})
            else:
                conflicts.append({"field": f"{pointer}/id",
                                  "reason": f"event id {event.id!r} was already accepted with a different body"})
        if conflicts:
            outcomes.append(EventConflict(conflicts))
            continue
        link_conflict = links.check(batch, new, reject_unlinked=unlinked_events == "reject")
        if link_conflict is not None:
            outcomes.append(link_conflict)
            continue
        if on_unlinked is not None:
            for account in links.unlinked_seen:
                on_unlinked(db, account, received_us)
        accepted.update(new)
        outcomes.append(RecordResult(results, frozenset(event.account for event in new.values())))
    _save(db, list(accepted.values()), received_us)
    store.mark_accounts_dirty(db, sorted({event.account for event in accepted.values()}), received_us)
    return outcomes


def _save(db: sqlite_utils.Database, events: list[Event], received_us: int) -> None:
    if not events:
        return
    store.insert_product_events(db, [
        (event.id, event.type, event.account, event.occurred_us, received_us, event.body) for event in events
    ])
    seat_rows, plan_rows, addon_rows = [], [], []
    for event in events:
        if isinstance(event, (SeatActivated, SeatDeactivated)):
            seat_rows.append((event.id, event.account, event.user, event.occurred_us,
                              1 if isinstance(event, SeatActivated) else 0))
        elif isinstance(event, SeatsSnapshot):
            store.insert_snapshot(db, event.id, event.account, event.occurred_us, list(event.users))
        elif isinstance(event, PlanChanged):
            plan_rows.append((event.id, event.account, event.occurred_us, event.plan))
        elif isinstance(event, AddonsChanged):
            addon_rows.append((event.id, event.account, event.occurred_us, json.dumps(list(event.addons))))
        elif isinstance(event, AccountLinked):
            # The link names the plan from its instant on, like a plan change.
            plan_rows.append((event.id, event.account, event.occurred_us, event.plan))
            store.upsert_account_link(db, {
                "account": event.account, "provider": event.provider, "subscription": event.subscription,
                "plan": event.plan, "timezone": event.timezone, "linked_us": event.occurred_us,
                "event_id": event.id,
            })
        elif isinstance(event, AccountUnlinked):
            store.remove_account_link(db, event.account, event.occurred_us, event.id)
    if seat_rows:
        store.insert_seat_facts(db, seat_rows)
    if plan_rows:
        store.insert_plan_facts(db, plan_rows)
    if addon_rows:
        store.insert_addon_facts(db, addon_rows)


class _Links:
    """Who holds which subscription while a group of batches is recorded: the stored links, then the
    accepted batches' links and unlinks on top, decided like the store decides them (the latest of an
    account's links and unlinks by (instant, event id) is in force), so the unique index never trips."""

    def __init__(self, db: sqlite_utils.Database):
        self._db = db
        # account → (latest link key (instant, id), its (provider, subscription)) and latest unlink key
        self._links: dict[str, tuple[tuple[int, str], tuple[str, str]] | None] = {}
        self._unlinks: dict[str, tuple[int, str] | None] = {}
        self._ever: dict[str, bool] = {}  # account → some account.linked is stored or accepted
        self.unlinked_seen: list[str] = []  # the last checked batch's seat-event accounts never linked

    def _link(self, account: str):
        if account not in self._links:
            row = store.account_link(self._db, account)
            self._links[account] = (((row["linked_us"], row["event_id"]), (row["provider"], row["subscription"]))
                                    if row else None)
        return self._links[account]

    def _unlink(self, account: str):
        if account not in self._unlinks:
            found = store.latest_unlink(self._db, account)
            self._unlinks[account] = found
        return self._unlinks[account]

    def holds(self, account: str) -> tuple[str, str] | None:
        link, unlink = self._link(account), self._unlink(account)
        if link is None or (unlink is not None and unlink > link[0]):
            return None
        return link[1]

    def holder(self, provider: str, subscription: str) -> str | None:
        stored = store.account_for_subscription(self._db, provider, subscription)
        for account in {*([stored] if stored else ()), *self._links}:
            if self.holds(account) == (provider, subscription):
                return account
        return None

    def ever_linked(self, account: str) -> bool:
        if account not in self._ever:
            self._ever[account] = store.ever_linked(self._db, account)
        return self._ever[account]

    def check(self, batch: Batch, new: dict[str, Event], *,
              reject_unlinked: bool = False) -> LinkConflict | IntakeError | None:
        """Apply the batch's new links and unlinks, in order; a link to a subscription another account holds
        refuses the batch (nothing of it is applied), and so do seat events of an account never linked
        when ``reject_unlinked``."""
        saved = dict(self._links), dict(self._unlinks), dict(self._ever)
        unlinked: dict[str, str] = {}  # account → pointer of its first seat event
        for pointer, event in zip(batch.pointers, batch.events):
            if new.get(event.id) is not event:
                continue  # a duplicate: already stored, already decided
            if isinstance(event, (SeatActivated, SeatDeactivated, SeatsSnapshot)) \
                    and not self.ever_linked(event.account):
                unlinked.setdefault(event.account, pointer)
            if isinstance(event, AccountLinked):
                holder = self.holder(event.provider, event.subscription)
                if holder is not None and holder != event.account:
                    self._links, self._unlinks, self._ever = saved
                    return LinkConflict([{
                        "field": f"{pointer}/subscription",
                        "reason": f"{event.provider} subscription {event.subscription!r} is linked to account "
                                  f"{holder!r}, not {event.account!r}; send account.unlinked for {holder!r} first",
                    }], (holder, event.account))
                self._ever[event.account] = True
                key = (event.occurred_us, event.id)
                current = self._link(event.account)
                if current is None or key > current[0]:
                    self._links[event.account] = (key, (event.provider, event.subscription))
            elif isinstance(event, AccountUnlinked):
                key = (event.occurred_us, event.id)
                current = self._unlink(event.account)
                if current is None or key > current:
                    self._unlinks[event.account] = key
        if unlinked and reject_unlinked:
            self._links, self._unlinks, self._ever = saved
            return IntakeError(422, "Unknown account", [
                {"field": f"{pointer}/account",
                 "reason": f"account {account!r} was never linked (send account.linked first; this server "
                           f"refuses seat events of unlinked accounts: SEATSYNC_UNLINKED_EVENTS=reject)"}
                for account, pointer in unlinked.items()])
        self.unlinked_seen = list(unlinked)
        return None


# --- seats -----------------------------------------------------------------


def _state_at(db: sqlite_utils.Database, account: str, at_us: int) -> dict[str, str]:
    """``{user: an event that made them active}`` for every user active at ``at_us`` (events at ``at_us`` included)."""
    snapshot = store.latest_snapshot(db, account, at_us)
    active: dict[str, str] = {}
    since = None
    if snapshot is not None:
        snapshot_id, since = snapshot
        active = {user: snapshot_id for user in store.snapshot_user_list(db, snapshot_id)}
    # Seat events at the snapshot's own instant beat it (rule 2), hence ``>= since``.
    for user, is_active, event_id in store.latest_seat_fact_per_user(db, account, since, at_us):
        if is_active:
            active[user] = event_id
        else:
            active.pop(user, None)
    return active


def active_users(db: sqlite_utils.Database, account: str, at_us: int) -> list[str]:
    return sorted(_state_at(db, account, at_us))


def seat_count(db: sqlite_utils.Database, account: str, at_us: int) -> int:
    return len(_state_at(db, account, at_us))


def changes(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[SeatChange]:
    """Every seat that changed state in [start_us, end_us), ordered by instant then user.

    Work is proportional to the events in the window (plus the account's users at each snapshot).
    """
    state = _state_at(db, account, start_us - 1)
    seats_at: dict[int, list[tuple]] = {}
    for row in store.seat_facts_between(db, account, start_us, end_us):
        seats_at.setdefault(row[0], []).append(row)
    snapshots_at: dict[int, str] = {}
    for instant, event_id in store.snapshots_between(db, account, start_us, end_us):
        snapshots_at[instant] = event_id  # rows are in event id order: the last one wins (rule 4)
    result: list[SeatChange] = []
    for instant in sorted(seats_at.keys() | snapshots_at.keys()):
        # The state each user touched at this instant ends in, and the event that decided it.
        touched: dict[str, tuple[int, str]] = {}
        snapshot_id = snapshots_at.get(instant)
        if snapshot_id is not None:
            listed = set(store.snapshot_user_list(db, snapshot_id))
            touched = {user: (0, snapshot_id) for user in state if user not in listed}
            touched.update((user, (1, snapshot_id)) for user in listed)
        decided: dict[str, tuple[int, str]] = {}
        for _, user, is_active, event_id in seats_at.get(instant, ()):
            current = decided.get(user)
            # Seat events beat the snapshot (rule 2); deactivation beats activation (rule 3); then the higher id.
            if current is None or (1 - is_active, event_id) > (1 - current[0], current[1]):
                decided[user] = (is_active, event_id)
        touched.update(decided)
        for user in sorted(touched):
            is_active, event_id = touched[user]
            if is_active and user not in state:
                state[user] = event_id
                result.append(SeatChange(instant, user, True, event_id))
            elif not is_active and user in state:
                del state[user]
                result.append(SeatChange(instant, user, False, event_id))
            elif is_active:
                state[user] = event_id
    return result


# --- plans, addons and links ---------------------------------------------------


def plan_at(db: sqlite_utils.Database, account: str, at_us: int) -> str | None:
    row = store.plan_fact_at(db, account, at_us)
    return row[0] if row else None


def plan_changes(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[PlanChange]:
    """Instants in [start_us, end_us) where the plan in force changed."""
    current = plan_at(db, account, start_us - 1)
    result: list[PlanChange] = []
    rows = store.plan_facts_between(db, account, start_us, end_us)
    for index, (instant, plan, event_id) in enumerate(rows):
        if index + 1 < len(rows) and rows[index + 1][0] == instant:
            continue  # a later event id at the same instant decides
        if plan != current:
            result.append(PlanChange(instant, plan, event_id))
            current = plan
    return result


def addons_at(db: sqlite_utils.Database, account: str, at_us: int) -> tuple[str, ...]:
    row = store.addon_fact_at(db, account, at_us)
    return tuple(json.loads(row[0])) if row else ()


def addon_changes(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[AddonsChange]:
    current = addons_at(db, account, start_us - 1)
    result: list[AddonsChange] = []
    rows = store.addon_facts_between(db, account, start_us, end_us)
    for index, (instant, addons, event_id) in enumerate(rows):
        if index + 1 < len(rows) and rows[index + 1][0] == instant:
            continue
        value = tuple(json.loads(addons))
        if value != current:
            result.append(AddonsChange(instant, value, event_id))
            current = value
    return result

