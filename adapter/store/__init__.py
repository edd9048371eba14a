"""The store: the only package that holds SQL, one module per feature.

``connection`` opens the database and runs write transactions; ``migrations`` builds the schema;
``ledger``, ``sync``, ``callbacks``, ``notify``, ``reconcile``, ``reconcile_runs`` (stored runs) and ``health``
hold each feature's queries;
``statistics`` keeps the planner's statistics current;
``faults`` says which errors mean the store cannot take a request now (503). Callers use
the functions through this package (``store.claim_due_accounts(...)``).
"""

# ``name as name`` marks a re-export for type checkers (mypy's no_implicit_reexport).
from adapter.store.callbacks import *  # noqa: F401,F403
from adapter.store.connection import Row as Row
from adapter.store.connection import open_db as open_db
from adapter.store.connection import schema_version as schema_version
from adapter.store.connection import write_transaction as write_transaction
from adapter.store.faults import StoreUnavailable as StoreUnavailable
from adapter.store.faults import fault_of as fault_of
from adapter.store.health import *  # noqa: F401,F403
from adapter.store.ledger import *  # noqa: F401,F403
from adapter.store.lifecycle import *  # noqa: F401,F403
from adapter.store.migrations import MIGRATIONS as MIGRATIONS
from adapter.store.notify import *  # noqa: F401,F403
from adapter.store.ops_audit import *  # noqa: F401,F403
from adapter.store.reconcile import *  # noqa: F401,F403
from adapter.store.reconcile_runs import *  # noqa: F401,F403
from adapter.store.statistics import optimize as optimize
from adapter.store.statistics import optimize_if_due as optimize_if_due
from adapter.store.sync import *  # noqa: F401,F403
