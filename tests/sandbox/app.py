"""Application factory: one World, the provider blueprints and the control API."""

from __future__ import annotations

import importlib.util

from flask import Flask, jsonify

from tests.sandbox.core import World


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def create_app(config: dict | None = None) -> Flask:
    """Build a sandbox app. ``config`` is kept on ``world.config`` for the halves
    (e.g. ``{"seed": 1}``); the world is ``app.extensions["sandbox_world"]``."""
    app = Flask("tests.sandbox")
    world = World(config)
    app.extensions["sandbox_world"] = world

    from tests.sandbox.control import create_control_blueprint

    if _module_exists("tests.sandbox.stripe"):
        from tests.sandbox import stripe as stripe_half

        app.register_blueprint(stripe_half.create_blueprint(world), url_prefix="/v1")
        app.register_blueprint(stripe_half.create_control_blueprint(world), url_prefix="/_sandbox/stripe")

    # The Chargebee half is built separately; mount it once it exists.
    if _module_exists("tests.sandbox.chargebee"):
        from tests.sandbox import chargebee as chargebee_half

        app.register_blueprint(chargebee_half.create_blueprint(world), url_prefix="/api/v2")
        app.register_blueprint(chargebee_half.create_control_blueprint(world), url_prefix="/_sandbox/chargebee")

    app.register_blueprint(create_control_blueprint(world), url_prefix="/_sandbox")

    @app.errorhandler(404)
    def not_found(_exc):
        return jsonify({"error": {"type": "invalid_request_error", "message": "Unrecognized request URL."}}), 404

    @app.errorhandler(405)
    def method_not_allowed(_exc):
        return jsonify({"error": {"type": "invalid_request_error", "message": "Method not allowed for this URL."}}), 405

    return app
