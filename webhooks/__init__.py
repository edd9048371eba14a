"""The HTTP layer: Flask receivers that verify, parse and hand typed objects to ``adapter``.

No SQL and no provider calls live here (see ARCHITECTURE.md).
"""

from __future__ import annotations

from flask import Flask

from adapter.config import Settings, load_settings, with_embedded_defaults
from adapter.store.connection import ensure_usable

from . import problems


def create_app(settings: Settings | None = None) -> Flask:
    """The app factory: ``gunicorn 'webhooks:create_app()'`` or ``create_app(settings)`` in tests."""
    if settings is None:
        settings = with_embedded_defaults(load_settings())
    app = Flask(__name__, static_folder=None)  # no static files: every route is in openapi.json
    app.config["SEATSYNC"] = settings
    # Reject bodies larger than the largest legal batch (1,000 events) early.
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    ensure_usable(settings.database)  # create, migrate and write once, before any worker serves
    problems.register(app)

    from . import request_log
    request_log.init_app(app)

    from . import db as request_db
    request_db.init_app(app)

    from . import health
    app.register_blueprint(health.bp)

    from . import chargebee as chargebee_webhooks
    from . import stripe as stripe_webhooks
    app.register_blueprint(stripe_webhooks.bp)
    app.register_blueprint(chargebee_webhooks.bp)

    from . import product
    product.init_app(app)

    from . import ops, ops_accounts, ops_actions, ops_signin  # noqa: F401  (both add their routes to ops.bp)
    ops_signin.init_app(app)  # the ops pages' session cookie and CSRF (sign-in: webhooks/ops_signin.py)
    app.register_blueprint(ops.bp)

    from . import openapi
    app.register_blueprint(openapi.bp)

    from . import metrics
    app.register_blueprint(metrics.bp)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
