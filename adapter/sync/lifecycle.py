"""Whether seat sync may write to an account's subscription, from the mirror's lifecycle.

A cancelled subscription is "largely immutable" on Stripe and refuses changes on Chargebee; a paused
one bills nothing while paused (Chargebee refuses item changes, Stripe drafts or voids its renewals).
Writing to either would only pile up dead letters, so a pass for such an account records why in
``sync_holds`` (once per state: a re-run changes nothing), reads and sends nothing, and marks the
claimed version done. The ledger keeps recording seats meanwhile; when the mirror shows the
subscription writable again (``callbacks/lifecycle.py`` clears the hold and makes the account due),
the next pass plans from the ledger like any other, so the seats that changed meanwhile reach the
provider. A cancellation only scheduled (``cancelling``, ``pausing``) still bills until then: sync
goes on.
"""

from __future__ import annotations

import logging

import sqlite_utils

from adapter import store
from adapter.accounts import Account
from adapter.clock import format_us
from adapter.providers import registry
from adapter.providers.base import Lifecycle

log = logging.getLogger(__name__)


def held(db: sqlite_utils.Database, linked: Account, now_us: int, read: Lifecycle | None = None) -> bool:
    """True (and the reason recorded) when the account's subscription takes no writes now: as the
    mirror shows it, or as the provider just said (``read``: the mirror may lag its webhooks)."""
    state = read or registry.lifecycle(store.mirror_row(db, "mirror_subscriptions", linked.provider,
                                                        linked.subscription))
    if state is None or state.writable:
        if read is not None:
            return False  # the mirror's view was checked before the read
        if store.sync_hold(db, linked.account) is not None:
            with store.write_transaction(db):
                store.clear_sync_hold(db, linked.account)
        return False
    since = f" since {format_us(state.at_us)}" if state.at_us is not None else ""
    until = f" until {format_us(state.resumes_us)}" if state.resumes_us is not None else ""
    reason = f"the subscription is {state.state}{since}{until}: seat sync writes nothing to it"
    with store.write_transaction(db):
        new = store.record_sync_hold(db, {"account": linked.account, "provider": linked.provider,
                                          "subscription": linked.subscription, "state": state.state,
                                          "since_us": state.at_us, "resumes_us": state.resumes_us,
                                          "reason": reason, "recorded_us": now_us})
    if new:
        log.info("account %s held: %s", linked.account, reason)
    return True
