"""A billing-faithful local sandbox of Stripe and Chargebee (see README.md).

Start it with ``python -m tests.sandbox --port PORT`` or build the Flask app
with ``tests.sandbox.app.create_app()``. Nothing here imports seatsync code.
"""
