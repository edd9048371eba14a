"""``/v1``: the HTTP face of the Stripe half (form-encoded in, JSON out, Stripe's error shape).

One parent blueprint, ``bp``, whose ``before_request`` checks the test-mode
key, injected faults and the global rate limit; the endpoints live in route
modules, each a blueprint of module-level handlers nested under it. The
request pipeline they share is ``tests.sandbox.stripe.api.http``.
"""

from __future__ import annotations

from flask import Blueprint

from . import customers, endpoints, events, invoices, schedules, subscriptions
from .http import gate

bp = Blueprint("stripe_v1", __name__)
bp.before_request(gate)
for _routes in (customers.bp, subscriptions.bp, schedules.bp, invoices.bp, events.bp, endpoints.bp):
    bp.register_blueprint(_routes)
