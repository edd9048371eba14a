"""``price.change_scheduled``: tell the product, once per account and change, when an announced price
change is ``notice_days`` or less away (seed 000: notice three months in advance); and in the last
period before the change, make the account due once so seat sync schedules the switch
(``sync/price_switch.py``) even for an account whose seats never move.

The worker runs this with its other callback tasks; every due change of every linked account's plan is
queued as one signed notification (dedupe key: account, plan, item and effective date), so running it
again, in any number of workers, queues nothing more. The product notifies the clinic administrators.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlite_utils

from adapter import accounts, ledger, store
from adapter.billing.policy import Catalog
from adapter.billing.price_changes import due_for_notice, scheduled_price_changes
from adapter.callbacks import notify
from adapter.clock import from_us, now_us


def account_price_changes(db: sqlite_utils.Database, catalog: Catalog, link: accounts.Account, at_us: int):
    """The scheduled price changes of the plan ``link``'s account is on at ``at_us``, priced at its seats."""
    plan = catalog.plans.get(ledger.plan_at(db, link.account, at_us) or link.plan)
    if plan is None or not _has_changes(plan):
        return plan, []
    timezone = link.timezone or plan.timezone
    seats = plan.billable_seats(ledger.seat_count(db, link.account, at_us))
    return plan, scheduled_price_changes(plan, anchor=from_us(link.linked_us), timezone=timezone,
                                         at=from_us(at_us), seats=seats)


def notify_price_changes(db: sqlite_utils.Database, catalog: Catalog, *, at_us: int | None = None) -> int:
    """Queue ``price.change_scheduled`` for every account with a change now due for notice; how many were new."""
    at_us = now_us() if at_us is None else at_us
    queued = 0
    if not any(_has_changes(plan) for plan in catalog.plans.values()):
        return 0  # the common case: nothing to look up per account
    for link in accounts.all_accounts(db):
        plan, changes = account_price_changes(db, catalog, link, at_us)
        if plan is None:
            continue
        today = from_us(at_us).astimezone(ZoneInfo(link.timezone or plan.timezone)).date()
        for change in changes:
            if _in_last_period(change, at_us):
                # The renewal ending the current period is the first at the new price: seat sync schedules
                # the switch now (sync/price_switch.py), even if no seat moves before it.
                if store.request_price_switch(db, link.account, change.plan, change.item,
                                              change.effective_from.isoformat(), at_us):
                    store.make_account_due(db, link.account, at_us)
            if not due_for_notice(change, today):
                continue
            data = {"provider": link.provider, "subscription": link.subscription, **change.as_dict()}
            key = f"price.change_scheduled:{link.account}:{change.plan}:{change.item}:{change.effective_from}"
            if notify.enqueue_notification(db, "price.change_scheduled", link.account, data, dedupe_key=key,
                                           at_us=at_us) is not None:
                queued += 1
    return queued


def _has_changes(plan) -> bool:
    return bool(plan.seat.price_changes or (plan.base_fee and plan.base_fee.price_changes))


def _one_period_us(change) -> int:
    return int((change.period.end - change.period.start).total_seconds() * 1_000_000)


def _in_last_period(change, at_us: int) -> bool:
    """Whether ``at_us`` lies in the period just before the first one at the new price (measured by the new
    period's length: a month may be up to three days shorter, so a long month's first days wait)."""
    start_us = int(change.period.start.timestamp() * 1_000_000)
    return start_us - _one_period_us(change) <= at_us < start_us
