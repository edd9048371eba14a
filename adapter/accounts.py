"""Accounts: which provider subscription bills a product account, and what it looks like now.

A link is an ``account.linked`` event like any other (the CLI's ``accounts
link`` records one), so the accounts table is just the latest link per
account and the ledger keeps its history.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass

import sqlite_utils

from adapter import clock, ledger, store
from adapter.clock import format_us
from adapter.intake.parse import parse_document


@dataclass(frozen=True)
class Account:
    account: str
    provider: str
    subscription: str
    plan: str  # the plan named by the link; ledger.plan_at() gives the plan in force
    timezone: str | None  # None: the plan's timezone (mappings/) applies
    linked_us: int
    event_id: str


def get_account(db: sqlite_utils.Database, account: str) -> Account | None:
    row = store.account_link(db, account)
    return Account(**row) if row else None


def all_accounts(db: sqlite_utils.Database) -> list[Account]:
    return [Account(**row) for row in store.linked_accounts(db)]


def link_event(account: str, *, provider: str, subscription: str, plan: str, timezone: str | None,
               at_us: int, event_id: str | None = None) -> dict:
    """The ``account.linked`` event in wire form."""
    event = {
        "id": event_id or f"link_{uuid.uuid4().hex}",
        "type": "account.linked",
        "account": account,
        "occurred_at": format_us(at_us),
        "provider": provider,
        "subscription": subscription,
        "plan": plan,
    }
    if timezone is not None:
        event["timezone"] = timezone
    return event


def link(db: sqlite_utils.Database, account: str, *, provider: str, subscription: str, plan: str,
         timezone: str | None, plans: Collection[str], addons: Collection[str],
         at_us: int | None = None) -> Account:
    """Validate and record a link exactly as if the product had sent it; ``IntakeError`` if invalid."""
    at_us = clock.now_us() if at_us is None else at_us
    wire = link_event(account, provider=provider, subscription=subscription, plan=plan, timezone=timezone,
                      at_us=at_us)
    events = parse_document(wire, plans=plans, addons=addons)
    ledger.record_events(db, events)
    linked = get_account(db, account)
    assert linked is not None  # just committed
    return linked


def describe(db: sqlite_utils.Database, account: str, at_us: int) -> dict | None:
    """Everything ``accounts show`` prints: the link and the plan, addons and seats in force at ``at_us``."""
    linked = get_account(db, account)
    users = ledger.active_users(db, account, at_us)
    plan = ledger.plan_at(db, account, at_us)
    addons = ledger.addons_at(db, account, at_us)
    if linked is None and not users and plan is None and not addons and not store.known_users(db, account):
        return None
    return {
        "account": account,
        "at": format_us(at_us),
        "link": {**asdict(linked), "linked_at": format_us(linked.linked_us)} if linked else None,
        "plan": plan,
        "addons": list(addons),
        "seats": len(users),
        "users": users,
    }


def page_of_accounts(db: sqlite_utils.Database, *, search: str = "", limit: int, offset: int
                     ) -> tuple[list[Account], int]:
    """One page of linked accounts by name (``search``: a case-insensitive part of the name), and how many match."""
    rows, total = store.linked_accounts_page(db, search=search, limit=limit, offset=offset)
    return [Account(**row) for row in rows], total
