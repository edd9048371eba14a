"""Provider-neutral machinery shared by the Stripe and Chargebee halves.

One ``World`` per sandbox app holds everything mutable: the provider state
objects, fault injection, webhook delivery, rate limiters, idempotency records
and per-object write locks. ``create_app`` keeps it in
``app.extensions["sandbox_world"]``; handlers reach it with ``current_world()``.

Modules, one job each: ``world`` (World, current_world), ``config``
(SandboxConfigError and value checks), ``faults``, ``webhooks`` (dispatcher),
``limiter``, ``idempotency``, ``locks``.

Interface of a provider half (``tests/sandbox/stripe``, ``tests/sandbox/chargebee``),
both built the same way::

    install(world) -> state
        # once per app: sets world.<provider> to its state object (with a
        # ``reset()`` method) and registers, in the provider's shape,
        world.faults.register_provider("chargebee", rate_limited=..., server_error=..., lock_timeout=...)
        world.webhooks.register_signer_factory("chargebee", factory)   # config dict -> signer(body) -> headers
        world.webhooks.set_defaults("chargebee", max_retries=7)
    api_blueprint       # module-level Blueprint, mounted at /v1 or /api/v2; its before_request calls
                        #     world.faults.maybe_fail(provider)
    control_blueprint   # module-level Blueprint, mounted at /_sandbox/<provider>

Handlers are module-level functions that find their state with
``current_world().<provider>``; nothing is captured in closures. All state
changes happen under ``world.lock`` (one RLock), so request handlers never
interleave half-applied updates.
"""

from .config import SandboxConfigError
from .faults import FAULT_KINDS, Faults, FaultSettings
from .idempotency import IdempotencyStore, StoredResponse
from .limiter import SlidingWindowLimiter
from .locks import ObjectLocks
from .webhooks import DeliverySettings, Endpoint, WebhookDispatcher
from .world import EXTENSION, World, current_world

__all__ = ["EXTENSION", "FAULT_KINDS", "DeliverySettings", "Endpoint", "FaultSettings", "Faults", "IdempotencyStore",
           "ObjectLocks", "SandboxConfigError", "SlidingWindowLimiter", "StoredResponse", "WebhookDispatcher", "World",
           "current_world"]
