"""The store: the only package that holds SQL (see core.py until it is split by feature)."""

from adapter.store.core import *  # noqa: F401,F403
from adapter.store.core import MIGRATIONS, open_db, write_transaction  # noqa: F401
