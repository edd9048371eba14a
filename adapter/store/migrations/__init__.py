"""The schema, built by versioned migrations (sqlite-utils' ``Migrations``).

Each migration runs in its own transaction and is recorded in ``_sqlite_migrations``; they apply in
the order they are declared: the modules below in the order imported here, each in file order. Never edit
a migration that has shipped: add a new one (to ``later``, or a new module imported last).
"""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("seatsync")

# Registration order is application order: keep these imports in this order, after MIGRATIONS.
from adapter.store.migrations import first, later  # noqa: E402,F401  isort: skip
