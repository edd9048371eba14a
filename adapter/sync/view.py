"""One linked account's seat sync at a glance: the seats the ledger bills, the quantity seatsync last pushed,
the provider's (mirror), and in words whether they agree. Shown by ``seatsync accounts show|list`` and the ops
accounts page, so both say the same."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from adapter import ledger, store
from adapter.accounts import Account
from adapter.billing.policy import Catalog
from adapter.clock import format_us
from adapter.reconcile.seats import mirror_quantity


def sync_view(db: sqlite_utils.Database, catalog: Catalog, link: Account, at_us: int) -> dict[str, Any]:
    """What one linked account's seat sync looks like: ledger, last pushed, mirror, last call, open trouble."""
    plan_id = ledger.plan_at(db, link.account, at_us) or link.plan
    plan = catalog.plans.get(plan_id)
    active = ledger.seat_count(db, link.account, at_us)
    state = store.sync_state(db, link.account) or {}
    calls = store.succeeded_quantity_calls(db, link.account, link.subscription)
    letters = store.recon_dead_letters(db, link.account)
    pushed, mirror = state.get("last_set_quantity"), mirror_quantity(db, catalog, link)
    waiting = state.get("ledger_version", 0) > state.get("synced_version", 0)
    billable = plan.billable_seats(active) if plan is not None else active
    if letters:
        status = f"refused: dead letter {letters[-1]['id']} (`seatsync dead-letters list`)"
    elif waiting:
        status = "waiting for the sync worker"
    elif mirror is not None and pushed is not None and mirror != pushed:
        status = f"drift: the provider holds {mirror}, seatsync set {pushed}"
    elif pushed is not None and pushed != billable:
        status = f"behind: the ledger bills {billable}"
    else:
        status = "in sync"
    return {
        "account": link.account, "provider": link.provider, "subscription": link.subscription, "plan": plan_id,
        "timezone": link.timezone or (plan.timezone if plan is not None else "UTC"),
        "timezone_source": "link" if link.timezone else "plan",
        "linked_at": format_us(link.linked_us), "seats": active, "billable": billable, "pushed": pushed,
        "mirror": mirror, "status": status,
        "last_sync": ({"quantity": calls[-1]["quantity"], "at": format_us(calls[-1]["completed_us"])}
                      if calls and calls[-1]["completed_us"] else None),
    }
