"""Reconciliation: what every invoice should contain against what it does."""

from adapter.reconcile.report import *  # noqa: F401,F403
