"""``/api/v2``: the HTTP face of the sandboxed Chargebee site.

One parent blueprint, ``bp``, whose ``before_request`` runs injected faults,
Basic auth and the site's rate limit and whose error handler answers
``ChargebeeError`` in Chargebee's shape; the endpoints live in route modules,
each a blueprint of module-level handlers nested under it. The request
pipeline they share is ``tests.sandbox.chargebee.api.http``.
"""

from __future__ import annotations

from flask import Blueprint

from . import customers, events, invoices, subscriptions
from .http import gatekeeping
from ..errors import ChargebeeError

bp = Blueprint("chargebee_api", __name__)
bp.before_request(gatekeeping)


@bp.errorhandler(ChargebeeError)
def chargebee_error(exc: ChargebeeError):
    return exc.response()


for _routes in (customers.bp, subscriptions.bp, invoices.bp, events.bp):
    bp.register_blueprint(_routes)
