"""Background webhook delivery: retries with backoff, injected duplicates, reordering and drops."""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .config import SandboxConfigError, check_count, check_non_negative, check_rate

Signer = Callable[[bytes], dict]
SignerFactory = Callable[[dict], Signer]


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
                value = check_rate(name, value)
            elif name in ("backoff_seconds", "timeout_seconds"):
                value = check_non_negative(name, value)
            elif name in ("max_retries", "seed"):
                value = check_count(name, value)
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
