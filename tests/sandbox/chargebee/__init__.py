"""The Chargebee half of the sandbox: API v2, Product Catalog 2.0 subset.

Same shape as the Stripe half: ``install(world)`` puts a ``ChargebeeState`` on
``world.chargebee`` and registers Chargebee's 429/5xx/lock_timeout bodies and
the Basic-auth webhook signer with the core; ``api_blueprint`` (``/api/v2``)
and ``control_blueprint`` (``/_sandbox/chargebee``) are module-level
blueprints whose handlers find that state through the app.

Layers: ``api`` (HTTP) → ``ops`` (operations on the site state) →
``proration``/``terms``/``money`` (pure arithmetic); ``params``/``errors`` are
Chargebee's wire format, ``settings`` the site settings, ``state`` what is
held. See ``tests/sandbox/CHARGEBEE.md`` for what is faithful and what is simplified.
"""

from __future__ import annotations

import base64

from .api import bp as api_blueprint
from .control import bp as control_blueprint
from .errors import lock_timeout, rate_limited, server_error
from .state import ChargebeeState
from ..core import SandboxConfigError, World

__all__ = ["api_blueprint", "basic_auth_signer", "control_blueprint", "install", "ChargebeeState"]

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


def install(world: World) -> ChargebeeState:
    """Give ``world`` its Chargebee site and the core hooks in Chargebee's shape (once per world)."""
    if not isinstance(world.chargebee, ChargebeeState):
        world.chargebee = ChargebeeState()
        world.faults.register_provider("chargebee", rate_limited=lambda: rate_limited().response(),
                                       server_error=lambda status: server_error(status).response(),
                                       lock_timeout=lambda: lock_timeout().response())
        world.webhooks.register_signer_factory(
            "chargebee", lambda config: basic_auth_signer(config.get("username"), config.get("password")))
        world.webhooks.set_defaults("chargebee", max_retries=WEBHOOK_MAX_RETRIES)
    return world.chargebee
