"""A billing-faithful local sandbox of Stripe and Chargebee (see README.md).

Start it with ``python -m tests.sandbox --port PORT`` or build the Flask app
with ``tests.sandbox.app.create_app()``. Nothing here imports seatsync code, and
its own imports are relative: the distribution ships it as ``seatsync_sandbox``
(pyproject.toml), so ``make run`` finds it without the source tree.
"""
