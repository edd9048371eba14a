"""Chargebee site operations: free functions over the ``ChargebeeState`` (no HTTP).

``render`` (subscriptions, customers), ``events`` (record, publish),
``catalog`` (customers, items, item prices), ``subscriptions``
(create_with_items, update_for_items), ``lines`` (line items and unbilled
charges from segments), ``invoices`` (invoices, credits applied, payments),
``credits`` (credit notes), ``renewals`` (invoice_unbilled_charges, renewals,
time travel), ``estimates`` (the update estimate, on a copy).
"""
