"""Before seat sync writes to a subscription: does it belong to the account being synced?

One subscription bills one account (the ledger's unique link), and the provider's own record says whose it
is: ``seatsync_account`` in the subscription's metadata, written by seat sync when it first syncs a link.
A subscription whose metadata names another account is never written to (a dead letter
``subscription_owner_mismatch``), so a mistaken link cannot move another customer's seats or money.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlite_utils

from adapter import store
from adapter.accounts import Account, get_account
from adapter.providers.base import SubscriptionState
from adapter.providers.retry import call_with_retries, classify
from adapter.sync.budget import soon_after

if TYPE_CHECKING:  # sync/account.py imports this module
    from adapter.sync.account import Outcome, Provider, SyncOptions


OWNER_MISMATCH = "subscription_owner_mismatch"


def owned(db: sqlite_utils.Database, provider: Provider, linked: Account, state: SubscriptionState,
          now_us: Callable[[], int], options: SyncOptions, outcome: Outcome) -> bool:
    """Whether seat sync may write to this subscription for this account: its metadata names the account.

    Unclaimed (no ``seatsync_account``), or naming an account the product explicitly unlinked: the
    metadata is written for this account first (the link's event id keys it, so A → B → A claims again).
    Naming any other account: a dead letter, never a write; the subscription is not this account's.
    """
    account = linked.account
    owner = state.owner
    if owner == account:
        return True
    if owner is not None and not (get_account(db, owner) is None and store.latest_unlink(db, owner)):
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.owner_check",
                               code=OWNER_MISMATCH, status=None, request_id=None, now_us=now_us(),
                               reason=f"subscription {linked.subscription} belongs to account {owner!r} by its "
                                      f"seatsync_account metadata, not {account!r}; nothing was written. Fix the "
                                      f"link, or send account.unlinked for {owner!r} to move it")
        outcome.dead += 1
        return False
    claim: Callable[[str, str, str], None] | None = getattr(provider, "claim", None)
    if claim is None:  # a provider double without metadata: nothing to claim
        return True
    key = f"seatsync:{linked.subscription}:owner:{linked.event_id}"[:100]
    sleep: dict[str, Any] = {"sleep": options.sleep} if options.sleep else {}
    try:
        call_with_retries(lambda: claim(linked.subscription, account, key), attempts=options.retry_attempts,
                          initial=options.retry_initial, maximum=options.retry_maximum,
                          **sleep)
    except Exception as exc:  # noqa: BLE001 - classified like every provider failure
        failure = classify(exc)
        if failure.transient:
            outcome.deferred = True
            outcome.retry_at_us = soon_after(failure, now_us())
            return False
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.claim",
                               code=failure.code, status=failure.status, reason=failure.reason,
                               request_id=failure.request_id, now_us=now_us())
        outcome.dead += 1
        return False
    return True


def drop_calls_for_other_subscriptions(db: sqlite_utils.Database, linked: Account, now_us: int) -> int:
    """Calls planned for a subscription the account no longer holds (relinked since) are never sent:
    they are dead-lettered (the store moves every later planned call with the first). Returns 0 or 1."""
    stale = [call for call in store.planned_calls(db, linked.account) if call["subscription"] != linked.subscription]
    if not stale:
        return 0
    store.dead_letter_call(db, stale[0], code=OWNER_MISMATCH, status=None, request_id=None, now_us=now_us,
                           reason=f"planned for {stale[0]['subscription']}, but {linked.account} is now linked to "
                                  f"{linked.subscription}; nothing was sent")
    return 1
