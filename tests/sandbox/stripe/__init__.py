"""The Stripe half of the sandbox: ``/v1`` API and ``/_sandbox/stripe`` controls.

Same shape as the Chargebee half: ``install(world)`` puts a ``StripeState`` on
``world.stripe`` and registers Stripe's 429/5xx bodies and the
``Stripe-Signature`` webhook signer with the core; ``api_blueprint`` and
``control_blueprint`` are module-level blueprints whose handlers find that
state through the app.

Layers: ``api`` (HTTP) → ``ops`` (operations on the ``Ledger``) → ``billing``
(pure arithmetic); ``params``/``errors`` are Stripe's wire format,
``settings`` the reliability knobs, ``state`` what is held.
"""

from __future__ import annotations

import json

from flask import Response
from stripe import WebhookSignature

from ..core import SandboxConfigError, World
from .api import bp as api_blueprint
from .control import bp as control_blueprint
from .errors import StripeError
from .state import StripeState

__all__ = ["api_blueprint", "control_blueprint", "install", "stripe_signer", "StripeState"]

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


def install(world: World) -> StripeState:
    """Give ``world`` its Stripe state and the core hooks in Stripe's shape (once per world)."""
    if world.stripe is None:
        world.stripe = StripeState(world, world.config.get("stripe_start_time"))
        world.faults.register_provider(
            "stripe", rate_limited=lambda: StripeError.rate_limited("global-rate").response(),
            server_error=_server_error, lock_timeout=lambda: StripeError.lock_timeout().response())
        world.webhooks.register_signer_factory("stripe", stripe_signer)
        world.webhooks.set_defaults("stripe", max_retries=STRIPE_WEBHOOK_RETRIES)
    return world.stripe
