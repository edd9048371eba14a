"""Site settings of the sandboxed Chargebee site (Billing LogIQ, in Chargebee's UI).

``prorate`` and ``invoice_immediately`` are used only when a request omits
them (reference §2b: the API defaults to the site settings; seatsync always
sends both). ``rounding`` is the sandbox's choice for an undocumented rule
(reference §10), configurable so tests can show which rule a number depends on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .money import ROUNDING_MODES


@dataclass
class SiteSettings:
    billing_mode: str = "millisecond"  # Chargebee's default (proration.html)
    timezone: str = "UTC"
    prorate: bool = True  # "Proration occurs by default when a subscription is changed" (support topic 40893)
    invoice_immediately: bool = True
    rounding: str = "ROUND_HALF_UP"
    rate_limit_per_minute: int | None = 150  # test sites (reference §6); None = unlimited
    rate_limit_window_seconds: float = 60.0
    api_key: str | None = None  # None: any non-empty key is accepted
    # Backdating (change_option=specific_date in the past) "needs backdating enabled on the site"
    # (reference §2); off by default. backdating_limit_day: "current day of the month does not exceed
    # the limit set ... for backdating" - the sandbox's reading (UNVERIFIED): when set, backdating into
    # an earlier calendar month than the site's current local month is refused once the current local
    # day of the month is past this day; None = no limit.
    backdating_enabled: bool = False
    backdating_limit_day: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class SettingError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingError(name, "must be true or false")
    return value


def validated(current: SiteSettings, changes: dict) -> SiteSettings:
    """A new settings object with ``changes`` applied, or SettingError (nothing applied)."""
    known = {f.name for f in fields(SiteSettings)}
    values = current.as_dict()
    for name, value in changes.items():
        if name not in known:
            raise SettingError(name, "unknown site setting")
        if name == "billing_mode":
            if value not in ("millisecond", "day"):
                raise SettingError(name, "must be 'millisecond' or 'day'")
        elif name == "timezone":
            try:
                ZoneInfo(value) if isinstance(value, str) else None
            except (ZoneInfoNotFoundError, ValueError):
                raise SettingError(name, "must be an IANA time zone name") from None
            if not isinstance(value, str):
                raise SettingError(name, "must be an IANA time zone name")
        elif name in ("prorate", "invoice_immediately", "backdating_enabled"):
            value = _bool(name, value)
        elif name == "backdating_limit_day":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31):
                raise SettingError(name, "must be a day of the month (1-31) or null")
        elif name == "rounding":
            if value not in ROUNDING_MODES:
                raise SettingError(name, f"must be one of {', '.join(ROUNDING_MODES)}")
        elif name == "rate_limit_per_minute":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise SettingError(name, "must be a positive integer or null")
        elif name == "rate_limit_window_seconds":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SettingError(name, "must be a positive number")
            value = float(value)
        elif name == "api_key":
            if value is not None and (not isinstance(value, str) or not value):
                raise SettingError(name, "must be a non-empty string or null")
        values[name] = value
    return SiteSettings(**values)
