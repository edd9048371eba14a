"""Provider-neutral machinery shared by the Stripe and Chargebee halves.

One ``World`` per sandbox app holds everything mutable: the provider state
objects, fault injection, webhook delivery, rate limiters, idempotency records
and per-object write locks. Each half plugs itself in through a small set of
calls, so neither needs to know the other exists.

Interface for a provider half (the Chargebee half lives in
``tests/sandbox/chargebee/`` and must export exactly these two functions)::

    create_blueprint(world: World) -> flask.Blueprint
        # mounted at /api/v2 (Chargebee) or /v1 (Stripe). It should set
        # world.<provider> to its state object (with a ``reset()`` method),
        # and call in a ``before_request``:
        #     failure = world.faults.maybe_fail("chargebee")
        #     if failure is not None: return failure
    create_control_blueprint(world: World) -> flask.Blueprint
        # mounted at /_sandbox/chargebee (site settings, time machine helpers)

and registers, once, when its blueprint is created::

    world.faults.register_provider("chargebee",
        rate_limited=lambda: Response(...429 in the provider's shape...),
        server_error=lambda status: Response(...5xx in the provider's shape...))
    world.webhooks.register_signer_factory("chargebee", factory)
        # factory(config: dict) -> signer; signer(body: bytes) -> dict of headers.
        # For Chargebee: config {"username", "password"} -> Basic auth header.
    world.webhooks.configure("chargebee", max_retries=7)   # provider defaults
    world.on_reset(callback)     # called inside World.reset()

Shared helpers a half may use: ``world.idempotency`` (first response per key),
``world.object_locks`` (refuse a concurrent writer → the provider's lock_timeout),
``SlidingWindowLimiter`` (rate limits), ``world.webhooks.pending_count(event_id)``
(endpoints that have not acknowledged an event yet, for webhook status fields).

All state changes happen under ``world.lock`` (one RLock), so request handlers
never interleave half-applied updates.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field, asdict
from typing import Any, Callable

from flask import Response, request

log = logging.getLogger(__name__)

Signer = Callable[[bytes], dict]
SignerFactory = Callable[[dict], Signer]

FAULT_KINDS = ("rate_limit", "server_error", "timeout", "lock_timeout")


class SandboxConfigError(ValueError):
    """A control-API setting is malformed; ``field`` names it."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _rate(name: str, value: Any) -> float:
    # Rates are probabilities; bools and strings are refused so a typo in a
    # control call fails loudly instead of silently disabling a fault.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SandboxConfigError(name, "must be a number between 0 and 1")
    if not 0 <= value <= 1:
        raise SandboxConfigError(name, "must be between 0 and 1")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SandboxConfigError(name, "must be a non-negative number")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SandboxConfigError(name, "must be a non-negative integer")
    return value


# --------------------------------------------------------------------------- faults


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
                value = _rate(name, value)
            elif name in ("timeout_seconds", "latency_seconds"):
                value = _non_negative(name, value)
            elif name == "server_error_status":
                if isinstance(value, bool) or value not in (500, 502, 503, 504):
                    raise SandboxConfigError(name, "must be one of 500, 502, 503, 504")
            elif name == "timeout_mode":
                if value not in ("sleep", "drop"):
                    raise SandboxConfigError(name, "must be 'sleep' or 'drop'")
            elif name == "seed":
                value = _count(name, value)
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
        count = _count("count", count)
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


# ----------------------------------------------------------------- rate limiting


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (None = unlimited)."""

    def __init__(self, limit: int | None, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def configure(self, limit: int | None, window: float | None = None) -> None:
        with self._lock:
            self.limit = limit
            if window is not None:
                self.window = window
            self._hits.clear()

    def allow(self, key: Any = None) -> bool:
        if self.limit is None:
            return True
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


# ------------------------------------------------------------------ idempotency


@dataclass
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    headers: dict


class IdempotencyStore:
    """First response per (provider, key), with a fingerprint of the request.

    Each provider half decides what a mismatch means (Stripe 400
    ``idempotency_error``, Chargebee 422) and which responses are stored.
    """

    def __init__(self):
        self._records: dict[tuple[str, str], StoredResponse] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(method: str, path: str, params: Any) -> str:
        canonical = json.dumps([method, path, params], sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def get(self, provider: str, key: str) -> StoredResponse | None:
        with self._lock:
            return self._records.get((provider, key))

    def put(self, provider: str, key: str, record: StoredResponse) -> None:
        with self._lock:
            self._records.setdefault((provider, key), record)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()


# ----------------------------------------------------------------- object locks


class ObjectLocks:
    """Per-object write locks: a second concurrent writer is refused, not queued.

    Providers answer concurrent writes to one subscription with 429
    ``lock_timeout``; ``try_hold`` reproduces that. ``hold_for`` lets a test
    keep an object locked (as if another request were writing it) for a while.
    """

    def __init__(self):
        self._held: dict[str, threading.Lock] = {}
        self._timers: dict[str, threading.Timer] = {}  # hold_for's pending releases
        self._guard = threading.Lock()

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._held.setdefault(key, threading.Lock())

    def acquire(self, key: str, wait: float = 0.0) -> bool:
        lock = self._lock_for(key)
        return lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)

    def release(self, key: str) -> None:
        """Release now; a pending ``hold_for`` timer on ``key`` is cancelled (else it would later
        release a lock somebody else holds by then, or raise on an unlocked one)."""
        with self._guard:
            timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._lock_for(key).release()

    def hold_for(self, key: str, seconds: float) -> bool:
        """Lock ``key`` now and release it after ``seconds`` on a timer thread."""
        if not self.acquire(key):
            return False
        timer = threading.Timer(seconds, self._expire_hold, args=(key,))
        timer.daemon = True
        with self._guard:
            self._timers[key] = timer
        timer.start()
        return True

    def _expire_hold(self, key: str) -> None:
        with self._guard:
            if self._timers.pop(key, None) is None:
                return  # released by hand before the time was up
        self._lock_for(key).release()


# --------------------------------------------------------------------- webhooks


@dataclass
class Endpoint:
    id: str
    provider: str
    url: str
    signer: Signer = field(repr=False)


@dataclass
class DeliverySettings:
    max_retries: int = 3
    backoff_seconds: float = 0.01  # first retry delay; doubles each attempt (time-compressed)
    timeout_seconds: float = 5.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0


@dataclass
class _Delivery:
    seq: int
    endpoint: Endpoint
    event_id: str
    body: bytes
    attempt: int = 0
    copy: int = 0


class WebhookDispatcher:
    """Background delivery of provider events to registered endpoints.

    At-least-once with retries and exponential backoff (compressed so tests run
    in milliseconds), plus injectable duplicates (a second copy of the
    delivery), reordering (a delivery waits until the next delivery to the same
    endpoint has been attempted) and drops (never sent). Injection decisions are
    drawn at ``emit`` time from a seeded RNG, so they are deterministic for a
    given seed and emit order.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._endpoints: dict[str, Endpoint] = {}
        self._signer_factories: dict[str, SignerFactory] = {}
        self._settings: dict[str, DeliverySettings] = {}
        self._defaults: dict[str, DeliverySettings] = {}
        self._rngs: dict[str, random.Random] = {}
        self._queue: list[tuple[float, int, _Delivery]] = []
        self._held: dict[str, list[_Delivery]] = {}
        self._in_flight = 0
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._generation = 0
        self.log: list[dict] = []
        # event id -> endpoints it was meant for / endpoints that answered 2xx; a
        # provider half derives "pending webhooks" and delivery_success from these.
        self._targets: dict[str, set[str]] = {}
        self._succeeded: dict[str, set[str]] = {}
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._stopped = False
        self._thread.start()

    # configuration -------------------------------------------------------

    def register_signer_factory(self, provider: str, factory: SignerFactory) -> None:
        self._signer_factories[provider] = factory

    def set_defaults(self, provider: str, **settings: Any) -> None:
        """Provider defaults (e.g. Stripe test mode retries 3 times), kept across reset."""
        self._defaults[provider] = DeliverySettings(**settings)
        with self._cond:
            self._settings[provider] = DeliverySettings(**settings)
            self._rngs[provider] = random.Random(self._settings[provider].seed)

    def settings(self, provider: str) -> dict:
        with self._cond:
            return asdict(self._settings_for(provider))

    def _settings_for(self, provider: str) -> DeliverySettings:
        if provider not in self._settings:
            self._settings[provider] = DeliverySettings(**asdict(self._defaults.get(provider, DeliverySettings())))
            self._rngs[provider] = random.Random(self._settings[provider].seed)
        return self._settings[provider]

    def configure(self, provider: str, **changes: Any) -> dict:
        with self._cond:
            current = DeliverySettings(**asdict(self._settings_for(provider)))
        for name, value in changes.items():
            if name in ("duplicate_rate", "reorder_rate", "drop_rate"):
                value = _rate(name, value)
            elif name in ("backoff_seconds", "timeout_seconds"):
                value = _non_negative(name, value)
            elif name in ("max_retries", "seed"):
                value = _count(name, value)
            else:
                raise SandboxConfigError(name, "unknown webhook setting")
            setattr(current, name, value)
        with self._cond:
            self._settings[provider] = current
            if "seed" in changes:
                self._rngs[provider] = random.Random(current.seed)
        return asdict(current)

    def register(self, provider: str, url: str, *, signer: Signer) -> Endpoint:
        if not url.startswith(("http://", "https://")):
            raise SandboxConfigError("url", "must be an http(s) URL")
        endpoint = Endpoint(id=f"we_{next(self._ids)}", provider=provider, url=url, signer=signer)
        with self._cond:
            self._endpoints[endpoint.id] = endpoint
        return endpoint

    def register_with_config(self, provider: str, url: str, config: dict) -> Endpoint:
        """Register using the provider's signer factory (used by the control API)."""
        factory = self._signer_factories.get(provider)
        if factory is None:
            raise SandboxConfigError("provider", f"no webhook signer registered for {provider!r}")
        return self.register(provider, url, signer=factory(config))

    def endpoints(self, provider: str | None = None) -> list[Endpoint]:
        with self._cond:
            return [e for e in self._endpoints.values() if provider in (None, e.provider)]

    def unregister(self, endpoint_id: str) -> bool:
        with self._cond:
            return self._endpoints.pop(endpoint_id, None) is not None

    # delivery ------------------------------------------------------------

    def emit(self, provider: str, event: dict) -> None:
        """Queue ``event`` for every endpoint of ``provider`` (JSON-encoded once)."""
        body = json.dumps(event, separators=(",", ":")).encode()
        event_id = str(event.get("id", ""))
        with self._cond:
            settings = self._settings_for(provider)
            rng = self._rngs[provider]
            for endpoint in [e for e in self._endpoints.values() if e.provider == provider]:
                self._targets.setdefault(event_id, set()).add(endpoint.id)
                # Always draw all three numbers so one rate does not shift the others.
                drop, dup, reorder = rng.random(), rng.random(), rng.random()
                delivery = _Delivery(next(self._seq), endpoint, event_id, body)
                if drop < settings.drop_rate:
                    self.log.append(self._entry(delivery, "dropped", None))
                    continue
                copies = [delivery]
                if dup < settings.duplicate_rate:
                    copies.append(_Delivery(next(self._seq), endpoint, event_id, body, copy=1))
                for copy in copies:
                    if reorder < settings.reorder_rate and copy.copy == 0:
                        self._held.setdefault(endpoint.id, []).append(copy)
                        self.log.append(self._entry(copy, "held", None))
                    else:
                        heapq.heappush(self._queue, (0.0, copy.seq, copy))
            self._cond.notify_all()

    def _entry(self, delivery: _Delivery, outcome: str, status: int | None, error: str | None = None) -> dict:
        return {"event_id": delivery.event_id, "endpoint": delivery.endpoint.id,
                "provider": delivery.endpoint.provider, "url": delivery.endpoint.url,
                "attempt": delivery.attempt + 1, "copy": delivery.copy,
                "outcome": outcome, "status": status, "error": error}

    def _release_held(self, endpoint_id: str) -> None:
        for delivery in self._held.pop(endpoint_id, []):
            heapq.heappush(self._queue, (0.0, delivery.seq, delivery))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    wait = (self._queue[0][0] - now) if self._queue else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, delivery = heapq.heappop(self._queue)
                self._in_flight += 1
                generation = self._generation
                settings = self._settings_for(delivery.endpoint.provider)
            status, error = self._post(delivery, settings.timeout_seconds)
            with self._cond:
                self._in_flight -= 1
                if generation != self._generation:
                    self._cond.notify_all()
                    continue
                ok = status is not None and 200 <= status < 300
                self.log.append(self._entry(delivery, "delivered" if ok else "failed", status, error))
                if ok:
                    self._succeeded.setdefault(delivery.event_id, set()).add(delivery.endpoint.id)
                if not ok and delivery.attempt < settings.max_retries:
                    delay = settings.backoff_seconds * (2 ** delivery.attempt)
                    delivery.attempt += 1
                    heapq.heappush(self._queue, (time.monotonic() + delay, delivery.seq, delivery))
                elif not ok:
                    self.log.append(self._entry(delivery, "gave_up", status, error))
                # A held (reordered) delivery goes out after the next one to its endpoint.
                self._release_held(delivery.endpoint.id)
                self._cond.notify_all()

    def _post(self, delivery: _Delivery, timeout: float) -> tuple[int | None, str | None]:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "seatsync-sandbox/1"}
        try:
            headers.update(delivery.endpoint.signer(delivery.body))
            req = urllib.request.Request(delivery.endpoint.url, data=delivery.body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except Exception as exc:  # connection refused, timeout, signer bug: all are failed attempts
            return None, f"{type(exc).__name__}: {exc}"

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, held or in flight. Held deliveries are
        released (nothing else will come to overtake them). True if drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if not self._queue and not self._in_flight:
                    if not self._held:
                        return True
                    for endpoint_id in list(self._held):
                        self._release_held(endpoint_id)
                    self._cond.notify_all()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def pending_count(self, event_id: str) -> int:
        """Endpoints that have not yet answered 2xx for this event (dropped ones never will)."""
        with self._cond:
            return len(self._targets.get(event_id, set()) - self._succeeded.get(event_id, set()))

    def delivered(self, provider: str | None = None) -> list[dict]:
        with self._cond:
            return [e for e in self.log if e["outcome"] == "delivered" and provider in (None, e["provider"])]

    def reset(self) -> None:
        """Forget endpoints, queue and log; restore provider defaults."""
        with self._cond:
            self._generation += 1
            self._endpoints.clear()
            self._queue.clear()
            self._held.clear()
            self.log.clear()
            self._targets.clear()
            self._succeeded.clear()
            self._settings.clear()
            self._rngs.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)


# ------------------------------------------------------------------------ world


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
