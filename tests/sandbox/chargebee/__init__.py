"""The Chargebee half of the sandbox: API v2, Product Catalog 2.0 subset.

Mounted by ``tests.sandbox.app``: ``create_blueprint(world)`` at ``/api/v2``
and ``create_control_blueprint(world)`` at ``/_sandbox/chargebee``.
See ``tests/sandbox/CHARGEBEE.md`` for what is faithful and what is simplified.
"""

from __future__ import annotations

import base64
import inspect

from flask import Blueprint

from tests.sandbox.core import SandboxConfigError

from .api import create_api_blueprint
from .control import create_control_blueprint as _control_blueprint
from .errors import lock_timeout, rate_limited, server_error
from .state import ChargebeeState

__all__ = ["create_blueprint", "create_control_blueprint", "basic_auth_signer", "ChargebeeState"]

# Chargebee retries a failed webhook up to 7 times (reference §5; support art. 257941).
WEBHOOK_MAX_RETRIES = 7


def basic_auth_signer(username: str | None, password: str | None):
    """Chargebee webhooks are unsigned; the protection is Basic auth on the URL (reference §5)."""
    if username is None:
        return lambda body: {}
    if not isinstance(username, str) or not isinstance(password, (str, type(None))) or ":" in username:
        raise SandboxConfigError("username", "username must be a string without ':' and password a string")
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
    return lambda body: {"Authorization": f"Basic {token}"}


def _state(world) -> ChargebeeState:
    """One state per world, shared by both blueprints; registers the provider hooks once."""
    if not isinstance(world.chargebee, ChargebeeState):
        world.chargebee = ChargebeeState()
        hooks = {"rate_limited": lambda: rate_limited().response(),
                 "server_error": lambda status: server_error(status).response()}
        # The core's injected lock_timeout fault is newer than some checkouts of core.py:
        # register the Chargebee shape for it wherever the core accepts it.
        if "lock_timeout" in inspect.signature(world.faults.register_provider).parameters:
            hooks["lock_timeout"] = lambda: lock_timeout().response()
        world.faults.register_provider("chargebee", **hooks)
        world.webhooks.register_signer_factory(
            "chargebee", lambda config: basic_auth_signer(config.get("username"), config.get("password")))
        world.webhooks.set_defaults("chargebee", max_retries=WEBHOOK_MAX_RETRIES)
    return world.chargebee


def create_blueprint(world) -> Blueprint:
    return create_api_blueprint(world, _state(world))


def create_control_blueprint(world) -> Blueprint:
    return _control_blueprint(world, _state(world))
