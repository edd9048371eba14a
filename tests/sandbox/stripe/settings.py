"""The Stripe half's reliability knobs (``/_sandbox/stripe/limits``).

Defaults are Stripe's test-mode limits (reference stripe.md §6, RL, RL-JA);
``world.config["stripe_limits"]`` overrides them (the pytest fixtures lift the
25 requests/s limit so no test depends on machine speed).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..core import SandboxConfigError

DEFAULT_REQUESTS_PER_SECOND = 25
DEFAULT_QUANTITY_UPDATES_PER_HOUR = 200


@dataclass
class StripeLimits:
    requests_per_second: int | None = DEFAULT_REQUESTS_PER_SECOND
    # The window the request limit counts over; tests stretch it so the result
    # does not depend on how fast requests are made.
    request_window_seconds: float = 1.0
    quantity_updates_per_hour: int | None = DEFAULT_QUANTITY_UPDATES_PER_HOUR
    # Seconds a write holds its object lock before applying; lets tests create
    # genuinely concurrent writes to one subscription (→ 429 lock_timeout).
    write_delay_seconds: float = 0.0


def _number(body: dict, name: str, *, allow_none: bool = False, integer: bool = False):
    value = body[name]
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or value < 0:
        raise SandboxConfigError(name, "must be a non-negative " + ("integer" if integer else "number")
                                 + (" or null" if allow_none else ""))
    return value


def validated_changes(body: dict[str, Any]) -> dict[str, Any]:
    """Checked limit changes (all or nothing): counts are integers or null (= unlimited),
    ``request_window_seconds`` positive, ``write_delay_seconds`` non-negative."""
    known = {f.name for f in fields(StripeLimits)}
    changes = {}
    for name in body:
        if name not in known:
            raise SandboxConfigError(name, "unknown limit")
        if name in ("requests_per_second", "quantity_updates_per_hour"):
            changes[name] = _number(body, name, allow_none=True, integer=True)
        else:
            changes[name] = float(_number(body, name))
            if name == "request_window_seconds" and not changes[name] > 0:
                raise SandboxConfigError(name, "must be positive")
    return changes
