"""``/_sandbox/`` control API: reset, fault injection, webhook endpoints and delivery.

JSON in, JSON out. A malformed setting answers 400
``{"error": {"field": ..., "reason": ...}}`` and changes nothing.
Provider-specific controls live under ``/_sandbox/stripe`` and ``/_sandbox/chargebee``.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .core import FAULT_KINDS, SandboxConfigError, current_world

PROVIDERS = ("stripe", "chargebee")

bp = Blueprint("sandbox_control", __name__)


def _bad(field: str, reason: str, status: int = 400):
    return jsonify({"error": {"field": field, "reason": reason}}), status


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SandboxConfigError("body", "must be a JSON object")
    return body


@bp.errorhandler(SandboxConfigError)
def config_error(exc: SandboxConfigError):
    return _bad(exc.field, exc.reason)


@bp.url_value_preprocessor
def check_provider(_endpoint, values):
    if values and "provider" in values and values["provider"] not in PROVIDERS:
        raise SandboxConfigError("provider", f"must be one of {', '.join(PROVIDERS)}")


@bp.get("/health")
def health():
    world = current_world()
    return jsonify({"ok": True, "providers": [p for p in PROVIDERS if getattr(world, p) is not None]})


@bp.post("/reset")
def reset():
    world = current_world()
    world.reset()
    return jsonify({"reset": True})


@bp.get("/faults/<provider>")
def get_faults(provider):
    world = current_world()
    return jsonify(world.faults.settings(provider))


@bp.post("/faults/<provider>")
def set_faults(provider):
    """Body: any of rate_limit_rate, server_error_rate, server_error_status,
    timeout_rate, timeout_mode (sleep|drop), timeout_seconds, latency_seconds,
    seed; plus optional ``fail_next: {"kind": ..., "count": n}``."""
    world = current_world()
    body = _json_body()
    fail_next = body.pop("fail_next", None)
    if fail_next is not None:
        if not isinstance(fail_next, dict) or fail_next.get("kind") not in FAULT_KINDS:
            raise SandboxConfigError("fail_next.kind", f"must be one of {', '.join(FAULT_KINDS)}")
    settings = world.faults.configure(provider, **body)
    if fail_next is not None:
        world.faults.fail_next(provider, fail_next["kind"], fail_next.get("count", 1))
        settings = world.faults.settings(provider)
    return jsonify(settings)


@bp.get("/faults")
def injected_faults():
    world = current_world()
    return jsonify({"injected": list(world.faults.injected)})


@bp.get("/webhooks/<provider>/settings")
def get_webhook_settings(provider):
    world = current_world()
    return jsonify(world.webhooks.settings(provider))


@bp.post("/webhooks/<provider>/settings")
def set_webhook_settings(provider):
    """Body: any of duplicate_rate, reorder_rate, drop_rate, seed,
    max_retries, backoff_seconds, timeout_seconds."""
    world = current_world()
    return jsonify(world.webhooks.configure(provider, **_json_body()))


@bp.post("/webhooks/<provider>/endpoints")
def add_endpoint(provider):
    """Body: ``url`` plus the provider's signing config (Stripe: ``secret``;
    Chargebee: ``username``/``password``)."""
    world = current_world()
    body = _json_body()
    url = body.pop("url", None)
    if not isinstance(url, str):
        raise SandboxConfigError("url", "is required")
    endpoint = world.webhooks.register_with_config(provider, url, body)
    return jsonify({"id": endpoint.id, "provider": provider, "url": endpoint.url}), 201


@bp.get("/webhooks/<provider>/endpoints")
def list_endpoints(provider):
    world = current_world()
    return jsonify({"data": [{"id": e.id, "url": e.url} for e in world.webhooks.endpoints(provider)]})


@bp.delete("/webhooks/endpoints/<endpoint_id>")
def delete_endpoint(endpoint_id):
    world = current_world()
    if not world.webhooks.unregister(endpoint_id):
        return _bad("endpoint_id", "no such endpoint", 404)
    return jsonify({"deleted": True, "id": endpoint_id})


@bp.post("/webhooks/flush")
def flush():
    world = current_world()
    timeout = _json_body().get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 120:
        raise SandboxConfigError("timeout", "must be a number of seconds in (0, 120]")
    return jsonify({"drained": world.webhooks.flush(timeout)})


@bp.get("/webhooks/log")
def delivery_log():
    world = current_world()
    return jsonify({"data": list(world.webhooks.log)})
