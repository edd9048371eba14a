"""A mirrored subscription entering or leaving cancellation or pause: what seatsync does about it.

Called by ``mirror.save_subscription`` inside the transaction that saved the new state, whatever
brought it (a webhook, a re-fetch, the sweeper, a backfill), so a decision and the state it was made
on commit together:

- cancelled, or a cancellation scheduled (``cancelling``): one ``subscription.cancelled`` per
  cancellation (dedupe key: provider, subscription and the instant it ends, so a scheduled
  cancellation and its execution notify once);
- paused: one ``subscription.paused`` per pause;
- back to a state seat sync writes to (resumed, reactivated): one ``subscription.resumed``, the hold
  is cleared and the account made due, so the next pass plans from the ledger and the seats that
  changed meanwhile reach the provider.

Seat sync itself reads the lifecycle before every pass (``adapter/sync/account.py``).
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from adapter import store
from adapter.callbacks import notify
from adapter.clock import format_us, now_us
from adapter.providers import registry
from adapter.providers.base import Lifecycle


def lifecycle_data(row: dict, state: Lifecycle) -> dict:
    """The notification's data: the subscription's usual fields and where it stands."""
    return notify.subscription_data(row) | {
        "state": state.state,
        "effective_at": format_us(state.at_us) if state.at_us is not None else None,
        "resumes_at": format_us(state.resumes_us) if state.resumes_us is not None else None}


def subscription_saved(db: sqlite_utils.Database, before: dict[str, Any] | None,
                       after: dict[str, Any] | None) -> None:
    """React to a subscription's new mirrored state (``after``) against the one it replaced."""
    old, new = registry.lifecycle(before), registry.lifecycle(after)
    if after is None or new is None or (old is not None and old == new):
        return
    provider, subscription = after["provider"], after["id"]
    account = store.linked_account_for_subscription(db, provider, subscription) or after.get("account")
    kind = None
    if new.state in ("cancelled", "cancelling") and (old is None or old.state not in ("cancelled", "cancelling")
                                                     or old.at_us != new.at_us):
        kind, episode = "subscription.cancelled", new.at_us
    elif new.state == "paused" and (old is None or old.state != "paused"):
        kind, episode = "subscription.paused", new.at_us if new.at_us is not None else after.get("version")
    elif new.writable and old is not None and not old.writable:
        kind, episode = "subscription.resumed", after.get("version")
    if kind is not None:
        notify.enqueue_notification(db, kind, account, lifecycle_data(after, new),
                                    dedupe_key=f"{provider}:{kind}:{subscription}:{episode}")
    if new.writable and old is not None and not old.writable and account:
        # Resumed or reactivated: the next pass plans from the ledger (what changed meanwhile included).
        store.clear_sync_hold(db, account)
        store.make_account_due(db, account, now_us())
