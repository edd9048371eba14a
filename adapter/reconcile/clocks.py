"""Each account's now, as reconciliation takes it (issue 11 item 5): the provider's clock when it has one of
its own (a Stripe test clock, a Chargebee time machine), else ours.

A provider's clock may be ahead of the wall clock: renewals, invoices and the seat changes synced to them
are then dated past it. A window with no end reaches each account's provider clock, and the drift check
reads the ledger there (where the provider's quantity stands); a clock behind ours is taken as it is too
(nothing has been billed past it yet). How a provider tells its clock is its own (``SeatClient.clocks``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlite_utils

from adapter import accounts, store

# An account's provider clock in µs, or None when the provider's clock is ours.
ProviderClock = Callable[[accounts.Account], "int | None"]


def provider_clocks(db: sqlite_utils.Database, clients: Mapping[str, Any]) -> ProviderClock:
    """The provider clock of each account, read through its provider's seat client (``clients``: the
    configured ones, by provider name); an unconfigured provider, or a client that cannot tell (a test's
    stand-in), counts as our clock. Each clock is read once per ``provider_clocks``: make one per run."""
    readers = {name: reader() for name, client in clients.items()
               if (reader := getattr(client, "clocks", None)) is not None}

    def clock(link: accounts.Account) -> int | None:
        reader = readers.get(link.provider)
        if reader is None:
            return None
        row = store.mirror_row(db, "mirror_subscriptions", link.provider, link.subscription)
        return reader(link.subscription, json.loads(row["raw"]) if row is not None else None)

    return clock
