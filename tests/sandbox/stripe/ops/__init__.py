"""Stripe billing operations: free functions over the ``Ledger`` (no HTTP, no threads).

``objects`` (render, events, metadata), ``customers`` (customers, balance,
products, prices), ``subscriptions`` (create, item changes, interval changes),
``invoices`` (lines, sweeping, finalizing, payments), ``clocks`` (test clocks,
renewals), ``preview`` (``create_preview`` on a copy). Every state change
appends Stripe-shaped events to ``ledger.events``; the HTTP layer forwards new
ones to the webhook dispatcher.
"""
