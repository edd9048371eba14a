"""The Stripe half of the sandbox: ``/v1`` API and ``/_sandbox/stripe`` controls.

``create_blueprint(world)`` installs ``world.stripe`` (a ``StripeState``), the
Stripe 429/5xx bodies for fault injection and the ``Stripe-Signature`` webhook
signer; ``create_control_blueprint(world)`` adds limit, lock and clock controls.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request
from stripe import WebhookSignature

from tests.sandbox.core import SandboxConfigError, World
from tests.sandbox.stripe import api
from tests.sandbox.stripe.errors import StripeError
from tests.sandbox.stripe.state import StripeState

# Stripe's sandbox retries a failed delivery three times (reference §5 WH).
STRIPE_WEBHOOK_RETRIES = 3


def _server_error(status: int) -> Response:
    return Response(json.dumps({"error": {"type": "api_error",
                                          "message": "An unknown error occurred (injected by the sandbox)."}}),
                    status, mimetype="application/json")


def stripe_signer(config: dict):
    """Signer for an endpoint secret: ``construct_event`` accepts its header."""
    secret = config.get("secret")
    if not isinstance(secret, str) or not secret:
        raise SandboxConfigError("secret", "a Stripe endpoint needs its signing secret (whsec_...)")
    extra = set(config) - {"secret"}
    if extra:
        raise SandboxConfigError(sorted(extra)[0], "unknown endpoint setting")

    def sign(body: bytes) -> dict:
        # A fresh timestamp and signature per attempt, as Stripe does (reference §5).
        return {"Stripe-Signature": WebhookSignature.generate_signature_header(body.decode(), secret)}
    return sign


def _state(world: World) -> StripeState:
    if world.stripe is None:
        world.stripe = StripeState(world, world.config.get("stripe_start_time"))
        world.faults.register_provider(
            "stripe", rate_limited=lambda: StripeError.rate_limited("global-rate").response(),
            server_error=_server_error, lock_timeout=lambda: StripeError.lock_timeout().response())
        world.webhooks.register_signer_factory("stripe", stripe_signer)
        world.webhooks.set_defaults("stripe", max_retries=STRIPE_WEBHOOK_RETRIES)
    return world.stripe


def create_blueprint(world: World) -> Blueprint:
    return api.create_blueprint(world, _state(world))


def _number(body: dict, name: str, *, allow_none: bool = False, integer: bool = False):
    value = body[name]
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or value < 0:
        raise SandboxConfigError(name, "must be a non-negative " + ("integer" if integer else "number")
                                 + (" or null" if allow_none else ""))
    return value


def create_control_blueprint(world: World) -> Blueprint:
    state = _state(world)
    bp = Blueprint("stripe_control", __name__)

    @bp.errorhandler(SandboxConfigError)
    def config_error(exc: SandboxConfigError):
        return jsonify({"error": {"field": exc.field, "reason": exc.reason}}), 400

    @bp.errorhandler(StripeError)
    def stripe_error(exc: StripeError):
        return jsonify({"error": {"field": exc.param, "reason": exc.message}}), 400

    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise SandboxConfigError("body", "must be a JSON object")
        return data

    @bp.get("/limits")
    def get_limits():
        return jsonify(vars(state.limits))

    @bp.post("/limits")
    def set_limits():
        """Body: requests_per_second / quantity_updates_per_hour (int or null = unlimited),
        request_window_seconds (default 1), write_delay_seconds (number)."""
        data = body()
        changes = {}
        for name in data:
            if name in ("requests_per_second", "quantity_updates_per_hour"):
                changes[name] = _number(data, name, allow_none=True, integer=True)
            elif name in ("write_delay_seconds", "request_window_seconds"):
                changes[name] = float(_number(data, name))
                if name == "request_window_seconds" and not changes[name] > 0:
                    raise SandboxConfigError(name, "must be positive")
            else:
                raise SandboxConfigError(name, "unknown limit")
        with world.lock:
            return jsonify(vars(state.configure_limits(**changes)))

    @bp.post("/locks")
    def hold_lock():
        """Hold an object's write lock as if another request were writing it."""
        data = body()
        object_id, seconds = data.get("object"), data.get("seconds", 1.0)
        if not isinstance(object_id, str) or not object_id:
            raise SandboxConfigError("object", "is required")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 60:
            raise SandboxConfigError("seconds", "must be in (0, 60]")
        if not world.object_locks.hold_for(object_id, float(seconds)):
            return jsonify({"error": {"field": "object", "reason": "already locked"}}), 409
        return jsonify({"object": object_id, "seconds": seconds})

    @bp.delete("/locks/<object_id>")
    def release_lock(object_id):
        try:
            world.object_locks.release(object_id)
        except RuntimeError:
            return jsonify({"error": {"field": "object", "reason": "not locked"}}), 404
        return jsonify({"object": object_id, "released": True})

    @bp.get("/writes")
    def get_writes():
        return jsonify({"paused": not state.write_gate.is_set(), "waiting": state.waiting_writers})

    @bp.post("/writes")
    def set_writes():
        """``{"paused": true}`` holds every locked write (subscription updates) right after it
        took its object lock, until ``{"paused": false}``; ``waiting`` counts held writers."""
        paused = body().get("paused")
        if not isinstance(paused, bool):
            raise SandboxConfigError("paused", "must be true or false")
        if paused:
            state.write_gate.clear()
        else:
            state.write_gate.set()
        return get_writes()

    @bp.get("/clock")
    def get_clock():
        return jsonify({"frozen_time": state.ledger.default_time})

    @bp.post("/clock/advance")
    def advance_clock():
        """Advance the default clock (customers created without a test clock)."""
        data = body()
        to = data.get("frozen_time")
        if isinstance(to, bool) or not isinstance(to, int):
            raise SandboxConfigError("frozen_time", "must be an integer unix time")
        with world.lock:
            mark = len(state.ledger.events)
            state.ledger.advance_default_clock(to)
            for event in state.ledger.events[mark:]:
                world.webhooks.emit("stripe", event)
        return jsonify({"frozen_time": to})

    return bp
