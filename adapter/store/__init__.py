"""The store: the only package that holds SQL, one module per feature.

``connection`` opens the database and runs write transactions; ``migrations`` builds the schema;
``ledger``, ``sync``, ``callbacks``, ``notify``, ``reconcile`` and ``health`` hold each feature's queries;
``faults`` says which errors mean the store cannot take a request now (503). Callers use
the functions through this package (``store.claim_due_accounts(...)``).
"""

from adapter.store.callbacks import *  # noqa: F401,F403
from adapter.store.connection import open_db, schema_version, write_transaction  # noqa: F401
from adapter.store.faults import StoreUnavailable, fault_of  # noqa: F401
from adapter.store.health import *  # noqa: F401,F403
from adapter.store.ledger import *  # noqa: F401,F403
from adapter.store.migrations import MIGRATIONS  # noqa: F401
from adapter.store.notify import *  # noqa: F401,F403
from adapter.store.reconcile import *  # noqa: F401,F403
from adapter.store.sync import *  # noqa: F401,F403
