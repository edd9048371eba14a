"""The ``World``: everything one sandbox app holds, and how a handler finds it."""

from __future__ import annotations

import threading
from typing import Any, Callable

from flask import current_app

from .faults import Faults
from .idempotency import IdempotencyStore
from .locks import ObjectLocks
from .webhooks import WebhookDispatcher

# The key under which ``create_app`` keeps the world in ``app.extensions``.
EXTENSION = "sandbox_world"


def current_world() -> "World":
    """The world of the app handling the current request (Flask ``current_app.extensions``)."""
    return current_app.extensions[EXTENSION]


class World:
    """Everything one sandbox app knows. ``lock`` serializes state changes."""

    def __init__(self, config: dict | None = None):
        self.config = dict(config or {})
        self.lock = threading.RLock()
        self.faults = Faults()
        self.webhooks = WebhookDispatcher()
        self.idempotency = IdempotencyStore()
        self.object_locks = ObjectLocks()
        self.stripe: Any = None
        self.chargebee: Any = None
        self._reset_callbacks: list[Callable[[], None]] = []

    def on_reset(self, callback: Callable[[], None]) -> None:
        self._reset_callbacks.append(callback)

    def reset(self) -> None:
        """Back to an empty world: provider state, faults, webhooks, idempotency."""
        with self.lock:
            self.faults.reset()
            self.webhooks.reset()
            self.idempotency.reset()
            for provider_state in (self.stripe, self.chargebee):
                if provider_state is not None and hasattr(provider_state, "reset"):
                    provider_state.reset()
            for callback in self._reset_callbacks:
                callback()

    def close(self) -> None:
        self.webhooks.stop()
