"""``/_sandbox/chargebee``: site settings, time machine, test cards, locks, reset.

JSON in, JSON out; a malformed setting answers 400
``{"error": {"field", "reason"}}`` and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .errors import ChargebeeError
from .ops import catalog, renewals, subscriptions
from .ops.events import publish
from .settings import SettingError, validated
from .state import ChargebeeState
from ..core import current_world

bp = Blueprint("chargebee_control", __name__)


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SettingError("body", "must be a JSON object")
    return body


def _state() -> ChargebeeState:
    return current_world().chargebee


@bp.errorhandler(SettingError)
def setting_error(exc: SettingError):
    return jsonify({"error": {"field": exc.field, "reason": exc.reason}}), 400


@bp.errorhandler(ChargebeeError)
def chargebee_error(exc: ChargebeeError):
    return jsonify({"error": {"field": exc.param, "reason": exc.message}}), exc.status


@bp.get("/settings")
def get_settings():
    state = _state()
    return jsonify(state.settings.as_dict())


@bp.post("/settings")
def set_settings():
    """Body: any of billing_mode (millisecond|day), timezone, prorate, invoice_immediately, rounding,
    rate_limit_per_minute, rate_limit_window_seconds, api_key, backdating_enabled, backdating_limit_day."""
    world, state = current_world(), _state()
    with world.lock:
        state.settings = validated(state.settings, _body())
        state.apply_rate_limit()
        return jsonify(state.settings.as_dict())


@bp.post("/reset")
def reset():
    world, state = current_world(), _state()
    with world.lock:
        state.reset()
        state.apply_rate_limit()
    return jsonify({"reset": True})


@bp.get("/time_machine")
def time_machine():
    state = _state()
    return jsonify(dict(state.time_machine) | {"now_ms": state.now_ms})


@bp.post("/time_machine/start_afresh")
def start_afresh():
    """Body: ``genesis_time`` (unix seconds). Wipes the site's data, keeps settings."""
    world, state = current_world(), _state()
    genesis = _body().get("genesis_time")
    if isinstance(genesis, bool) or not isinstance(genesis, int) or genesis < 0:
        raise SettingError("genesis_time", "must be unix seconds")
    with world.lock:
        state.clear_data(genesis * 1000)
        return jsonify(state.time_machine)


@bp.post("/time_machine/travel_forward")
def travel_forward():
    """Body: ``destination_time`` (unix seconds); renewals run on the way."""
    world, state = current_world(), _state()
    destination = _body().get("destination_time")
    if isinstance(destination, bool) or not isinstance(destination, int):
        raise SettingError("destination_time", "must be unix seconds")
    with world.lock, state.transaction():
        renewals.travel_forward(state, destination * 1000)
        publish(state, world)
        return jsonify(state.time_machine)


@bp.post("/customers/<customer_id>/payment_method")
def payment_method(customer_id):
    """Body: ``outcome``: succeed | decline | none (the customer's test card)."""
    world, state = current_world(), _state()
    outcome = _body().get("outcome")
    with world.lock, state.transaction():
        customer = catalog.set_payment_outcome(state, customer_id, outcome)
        return jsonify({"customer_id": customer["id"], "card_status": customer["card_status"]})


@bp.post("/subscriptions/<sub_id>/status")
def subscription_status(sub_id):
    """Body: ``status``: active | in_trial | future | paused | non_renewing. Sets the status field only
    (a test hook for status rules such as backdating's); nothing that status implies is modelled."""
    world, state = current_world(), _state()
    status = _body().get("status")
    with world.lock, state.transaction():
        sub = subscriptions.set_status(state, sub_id, status)
        return jsonify({"subscription_id": sub["id"], "status": sub["status"]})


@bp.post("/locks/subscriptions/<sub_id>")
def hold_lock(sub_id):
    """Hold the subscription's write lock as if another request were writing it."""
    world = current_world()
    if not world.object_locks.acquire(f"chargebee:subscription:{sub_id}"):
        return jsonify({"error": {"field": "subscription_id", "reason": "already locked"}}), 409
    return jsonify({"locked": sub_id})


@bp.delete("/locks/subscriptions/<sub_id>")
def release_lock(sub_id):
    world = current_world()
    try:
        world.object_locks.release(f"chargebee:subscription:{sub_id}")
    except RuntimeError:
        return jsonify({"error": {"field": "subscription_id", "reason": "not locked"}}), 409
    return jsonify({"released": sub_id})
