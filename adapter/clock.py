"""Instants: integer microseconds since the Unix epoch (UTC) inside seatsync; parsed and formatted at the edges.

Every module that handles time goes through these helpers, so one representation crosses the
exactly-once path (the ledger, the planner, idempotency keys): never a float, never a naive datetime.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def now_us() -> int:
    """The wall clock, in microseconds."""
    return time.time_ns() // 1000


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch (exact integer arithmetic, no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The aware UTC datetime of an instant."""
    return _EPOCH + timedelta(microseconds=us)


def format_us(us: int) -> str:
    """RFC 3339 in UTC with a ``Z``, as seatsync prints instants."""
    return from_us(us).isoformat().replace("+00:00", "Z")


def parse_instant(value: Any) -> int:
    """RFC 3339 timestamp with offset → UTC microseconds; ``ValueError`` says why not."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string")
    match = _RFC3339.match(value)
    if not match:
        if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", value):
            raise ValueError("must carry a UTC offset (Z or ±HH:MM); naive times are ambiguous")
        raise ValueError("must be an RFC 3339 timestamp such as 2026-01-31T09:30:00Z")
    normalized = value.upper().replace(" ", "T")
    if normalized.endswith("Z"):
        normalized = normalized[:-1] + "+00:00"
    fraction = match.group(1)
    if fraction and len(fraction) > 7:  # '.' + 6 digits: truncate finer precision
        normalized = normalized.replace(fraction, fraction[:7], 1)
    try:
        return to_us(datetime.fromisoformat(normalized).astimezone(UTC))
    except ValueError:
        raise ValueError("is not a real date and time") from None
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime's year 1 in UTC
        raise ValueError("is outside the representable range of years 1-9999 in UTC") from None
