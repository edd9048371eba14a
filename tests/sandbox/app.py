"""Application factory: one World, the provider blueprints and the control API."""

from __future__ import annotations

import importlib.util

from flask import Flask, jsonify, request

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

    # Routing errors happen before any blueprint sees the request, so they are
    # answered here in the shape of the provider the path belongs to.
    def provider_error(status: int, stripe_message: str, chargebee_code: str):
        if request.path.startswith("/api/v2"):
            return jsonify({"message": stripe_message, "type": "invalid_request",
                            "api_error_code": chargebee_code, "http_status_code": status}), status
        if request.path.startswith("/v1"):
            return jsonify({"error": {"type": "invalid_request_error", "message": stripe_message}}), status
        return jsonify({"error": {"field": "path", "reason": stripe_message}}), status

    @app.errorhandler(404)
    def not_found(_exc):
        return provider_error(404, f"Unrecognized request URL ({request.method}: {request.path}).",
                              "resource_not_found")

    @app.errorhandler(405)
    def method_not_allowed(_exc):
        return provider_error(405, f"Method {request.method} is not allowed for {request.path}.",
                              "http_method_not_supported")

    @app.errorhandler(500)
    def internal_error(_exc):
        # Never an HTML page or a stack trace, whichever half failed.
        return provider_error(500, "An unknown error occurred in the sandbox.", "internal_error")

    return app
