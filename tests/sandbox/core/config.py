"""Control-API validation shared by the core and both halves.

A malformed setting raises ``SandboxConfigError`` naming the field; the
control blueprints answer it as 400 ``{"error": {"field", "reason"}}`` and
change nothing.
"""

from __future__ import annotations

from typing import Any


class SandboxConfigError(ValueError):
    """A control-API setting is malformed; ``field`` names it."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_rate(name: str, value: Any) -> float:
    # Rates are probabilities; bools and strings are refused so a typo in a
    # control call fails loudly instead of silently disabling a fault.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SandboxConfigError(name, "must be a number between 0 and 1")
    if not 0 <= value <= 1:
        raise SandboxConfigError(name, "must be between 0 and 1")
    return float(value)


def check_non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SandboxConfigError(name, "must be a non-negative number")
    return float(value)


def check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SandboxConfigError(name, "must be a non-negative integer")
    return value
