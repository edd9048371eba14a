"""``/_sandbox/stripe``: limits, object locks, the write gate and the default clock.

JSON in, JSON out; a malformed setting answers 400
``{"error": {"field", "reason"}}`` and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import SandboxConfigError, current_world
from .errors import StripeError
from .ops.clocks import advance_default_clock
from .settings import validated_changes
from .state import StripeState

bp = Blueprint("stripe_control", __name__)


def _state() -> StripeState:
    return current_world().stripe


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SandboxConfigError("body", "must be a JSON object")
    return data


@bp.errorhandler(SandboxConfigError)
def config_error(exc: SandboxConfigError):
    return jsonify({"error": {"field": exc.field, "reason": exc.reason}}), 400


@bp.errorhandler(StripeError)
def stripe_error(exc: StripeError):
    return jsonify({"error": {"field": exc.param, "reason": exc.message}}), 400


@bp.get("/limits")
def get_limits():
    return jsonify(vars(_state().limits))


@bp.post("/limits")
def set_limits():
    """Body: requests_per_second / quantity_updates_per_hour (int or null = unlimited),
    request_window_seconds (default 1), write_delay_seconds (number)."""
    changes = validated_changes(_body())
    with current_world().lock:
        return jsonify(vars(_state().configure_limits(**changes)))


@bp.post("/locks")
def hold_lock():
    """Hold an object's write lock as if another request were writing it."""
    data = _body()
    object_id, seconds = data.get("object"), data.get("seconds", 1.0)
    if not isinstance(object_id, str) or not object_id:
        raise SandboxConfigError("object", "is required")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 60:
        raise SandboxConfigError("seconds", "must be in (0, 60]")
    if not current_world().object_locks.hold_for(object_id, float(seconds)):
        return jsonify({"error": {"field": "object", "reason": "already locked"}}), 409
    return jsonify({"object": object_id, "seconds": seconds})


@bp.delete("/locks/<object_id>")
def release_lock(object_id):
    try:
        current_world().object_locks.release(object_id)
    except RuntimeError:
        return jsonify({"error": {"field": "object", "reason": "not locked"}}), 404
    return jsonify({"object": object_id, "released": True})


@bp.get("/writes")
def get_writes():
    state = _state()
    return jsonify({"paused": not state.write_gate.is_set(), "waiting": state.waiting_writers})


@bp.post("/writes")
def set_writes():
    """``{"paused": true}`` holds every locked write (subscription updates) right after it
    took its object lock, until ``{"paused": false}``; ``waiting`` counts held writers."""
    paused = _body().get("paused")
    if not isinstance(paused, bool):
        raise SandboxConfigError("paused", "must be true or false")
    if paused:
        _state().write_gate.clear()
    else:
        _state().write_gate.set()
    return get_writes()


@bp.get("/clock")
def get_clock():
    return jsonify({"frozen_time": _state().ledger.default_time})


@bp.post("/clock/advance")
def advance_clock():
    """Advance the default clock (customers created without a test clock)."""
    to = _body().get("frozen_time")
    if isinstance(to, bool) or not isinstance(to, int):
        raise SandboxConfigError("frozen_time", "must be an integer unix time")
    world = current_world()
    with world.lock:
        ledger = _state().ledger
        mark = len(ledger.events)
        try:
            advance_default_clock(ledger, to)
        finally:
            ledger.journal.end()
        for event in ledger.events[mark:]:
            world.webhooks.emit("stripe", event)
    return jsonify({"frozen_time": to})
