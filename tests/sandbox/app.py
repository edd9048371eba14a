"""Application factory: one World, both provider halves and the control API."""

from __future__ import annotations

from flask import Flask, jsonify, request

from . import chargebee, control, stripe
from .core import EXTENSION, World

# Each half: (module, API prefix). Both are built the same way (tests.sandbox.core docstring).
HALVES = ((stripe, "stripe", "/v1"), (chargebee, "chargebee", "/api/v2"))


def create_app(config: dict | None = None) -> Flask:
    """Build a sandbox app. ``config`` is kept on ``world.config`` for the halves
    (e.g. ``{"seed": 1}``); the world is ``app.extensions["sandbox_world"]``."""
    app = Flask(__package__ or __name__)  # tests.sandbox or, installed, seatsync_sandbox
    world = World(config)
    app.extensions[EXTENSION] = world
    for half, name, prefix in HALVES:
        half.install(world)
        app.register_blueprint(half.api_blueprint, url_prefix=prefix)
        app.register_blueprint(half.control_blueprint, url_prefix=f"/_sandbox/{name}")
    app.register_blueprint(control.bp, url_prefix="/_sandbox")
    app.register_error_handler(404, not_found)
    app.register_error_handler(405, method_not_allowed)
    app.register_error_handler(500, internal_error)
    return app


# Routing errors happen before any blueprint sees the request, so they are
# answered here in the shape of the provider the path belongs to.
def provider_error(status: int, stripe_message: str, chargebee_code: str):
    if request.path.startswith("/api/v2"):
        return jsonify({"message": stripe_message, "type": "invalid_request",
                        "api_error_code": chargebee_code, "http_status_code": status}), status
    if request.path.startswith("/v1"):
        return jsonify({"error": {"type": "invalid_request_error", "message": stripe_message}}), status
    return jsonify({"error": {"field": "path", "reason": stripe_message}}), status


def not_found(_exc):
    return provider_error(404, f"Unrecognized request URL ({request.method}: {request.path}).", "resource_not_found")


def method_not_allowed(_exc):
    return provider_error(405, f"Method {request.method} is not allowed for {request.path}.",
                          "http_method_not_supported")


def internal_error(_exc):
    # Never an HTML page or a stack trace, whichever half failed.
    return provider_error(500, "An unknown error occurred in the sandbox.", "internal_error")
