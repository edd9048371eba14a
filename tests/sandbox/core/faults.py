"""Injected failures per provider: rate limits, 5xx, timeouts, lock timeouts, latency.

A provider half registers the bodies in its own shape (``register_provider``)
and calls ``maybe_fail(provider)`` first thing in its blueprint's
``before_request``. Every request draws exactly one number from the
provider's seeded RNG, so a seed and a request order always give the same
failures; ``fail_next`` queues exact failures.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Callable

from flask import Response, request

from .config import SandboxConfigError, check_count, check_non_negative, check_rate

FAULT_KINDS = ("rate_limit", "server_error", "timeout", "lock_timeout")


@dataclass
class FaultSettings:
    rate_limit_rate: float = 0.0
    server_error_rate: float = 0.0
    server_error_status: int = 500
    timeout_rate: float = 0.0
    # 429 lock_timeout, as if another request held the object's write lock (the provider
    # half registers its shape; a half that does not answers a plain rate limit).
    lock_timeout_rate: float = 0.0
    # "sleep": hold the request for timeout_seconds (past the client's timeout);
    # "drop": close the TCP connection without an answer.
    timeout_mode: str = "drop"
    timeout_seconds: float = 30.0
    latency_seconds: float = 0.0
    seed: int = 0


class Faults:
    """Injected failures per provider, deterministic for a given seed.

    Every request draws exactly one number from the provider's seeded RNG, so a
    given seed and request sequence always fail the same requests. ``fail_next``
    queues failures for the next N requests regardless of rates, for tests that
    want one precise failure.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep):
        self._lock = threading.Lock()
        self._sleep = sleep
        self._settings: dict[str, FaultSettings] = {}
        self._rngs: dict[str, random.Random] = {}
        self._queued: dict[str, deque[str]] = {}
        self._rate_limited: dict[str, Callable[[], Response]] = {}
        self._server_error: dict[str, Callable[[int], Response]] = {}
        self._lock_timeout: dict[str, Callable[[], Response]] = {}
        self.injected: list[dict] = []

    def register_provider(self, provider: str, *, rate_limited: Callable[[], Response],
                          server_error: Callable[[int], Response],
                          lock_timeout: Callable[[], Response] | None = None) -> None:
        self._rate_limited[provider] = rate_limited
        self._server_error[provider] = server_error
        self._lock_timeout[provider] = lock_timeout or rate_limited
        with self._lock:
            self._ensure(provider)

    def _ensure(self, provider: str) -> FaultSettings:
        if provider not in self._settings:
            self._settings[provider] = FaultSettings()
            self._rngs[provider] = random.Random(0)
            self._queued[provider] = deque()
        return self._settings[provider]

    def settings(self, provider: str) -> dict:
        with self._lock:
            return asdict(self._ensure(provider)) | {"queued": list(self._queued[provider])}

    def configure(self, provider: str, **changes: Any) -> dict:
        """Validate every change first, then apply all of them (all or nothing)."""
        current = FaultSettings(**asdict(self._settings.get(provider, FaultSettings())))
        for name, value in changes.items():
            if name in ("rate_limit_rate", "server_error_rate", "timeout_rate", "lock_timeout_rate"):
                value = check_rate(name, value)
            elif name in ("timeout_seconds", "latency_seconds"):
                value = check_non_negative(name, value)
            elif name == "server_error_status":
                if isinstance(value, bool) or value not in (500, 502, 503, 504):
                    raise SandboxConfigError(name, "must be one of 500, 502, 503, 504")
            elif name == "timeout_mode":
                if value not in ("sleep", "drop"):
                    raise SandboxConfigError(name, "must be 'sleep' or 'drop'")
            elif name == "seed":
                value = check_count(name, value)
            else:
                raise SandboxConfigError(name, "unknown fault setting")
            setattr(current, name, value)
        total = current.rate_limit_rate + current.server_error_rate + current.timeout_rate + current.lock_timeout_rate
        if total > 1:
            raise SandboxConfigError("rate_limit_rate", "the four rates together must not exceed 1")
        with self._lock:
            self._ensure(provider)
            self._settings[provider] = current
            if "seed" in changes:
                self._rngs[provider] = random.Random(current.seed)
        return self.settings(provider)

    def fail_next(self, provider: str, kind: str, count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise SandboxConfigError("kind", f"must be one of {', '.join(FAULT_KINDS)}")
        count = check_count("count", count)
        with self._lock:
            self._ensure(provider)
            self._queued[provider].extend([kind] * count)

    def reset(self) -> None:
        with self._lock:
            for provider in list(self._settings):
                self._settings[provider] = FaultSettings()
                self._rngs[provider] = random.Random(0)
                self._queued[provider].clear()
            self.injected.clear()

    def _choose(self, provider: str) -> tuple[str | None, FaultSettings]:
        with self._lock:
            settings = self._ensure(provider)
            if self._queued[provider]:
                return self._queued[provider].popleft(), settings
            draw = self._rngs[provider].random()
            threshold = 0.0
            for kind, rate in (("rate_limit", settings.rate_limit_rate),
                               ("server_error", settings.server_error_rate),
                               ("timeout", settings.timeout_rate),
                               ("lock_timeout", settings.lock_timeout_rate)):
                threshold += rate
                if draw < threshold:
                    return kind, settings
            return None, settings

    def maybe_fail(self, provider: str) -> Response | None:
        """Call from a provider blueprint's ``before_request``.

        Returns the response to send instead of handling the request, or None.
        A "drop" timeout closes the socket and returns a 500 that never reaches
        the client (the connection is already gone).
        """
        kind, settings = self._choose(provider)
        if settings.latency_seconds:
            self._sleep(settings.latency_seconds)
        if kind is None:
            return None
        self.injected.append({"provider": provider, "kind": kind, "path": request.path})
        if kind == "rate_limit":
            return self._rate_limited[provider]()
        if kind == "server_error":
            return self._server_error[provider](settings.server_error_status)
        if kind == "lock_timeout":
            return self._lock_timeout[provider]()
        if settings.timeout_mode == "sleep":
            self._sleep(settings.timeout_seconds)
            return self._server_error[provider](504)
        _drop_connection()
        return Response(status=500)


def _drop_connection() -> None:
    # werkzeug's development server exposes the client socket; shutting it down
    # makes the client see a reset/EOF instead of an HTTP answer, which is what
    # a provider-side timeout looks like from the SDK.
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
