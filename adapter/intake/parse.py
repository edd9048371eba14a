"""Parse and validate a product request body into typed events.

Pure: no I/O, no Flask, no database. The plan and addon ids the events may
name are passed in, so this module can be tested without a catalogue.

Validation collects every error before giving up, each as
``{"field": <JSON pointer>, "reason": <why>}``, so the product can fix a whole
batch in one go. A batch is all or nothing: one bad event rejects it.

Rules beyond the issue's field list, and why:
- Unknown fields are rejected: a misspelt ``users`` on a snapshot would
  otherwise silently deactivate everyone.
- ``occurred_at`` must be RFC 3339 *with* an offset: a naive time is an
  ambiguity about money. It is kept as UTC microseconds since the epoch
  (sub-microsecond digits are truncated).
- An event id repeated inside one batch is a duplicate when the two events
  are identical (canonical JSON: key order and whitespace do not matter) and
  a conflict (409) when they differ; so is an id stored earlier with a
  different body (adapter.ledger). A retry must resend the same event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapter.clock import format_us, from_us, parse_instant
from adapter.providers import registry

MAX_EVENTS = 1000
MAX_ID_LENGTH = 255
MAX_TIMEZONE_LENGTH = 64  # the longest IANA name is 32 characters; ZoneInfo raises OSError on very long ones

_CONTROL = re.compile(r"[\x00-\x1f]")


class IntakeError(Exception):
    """A rejected body: ``status`` is the HTTP status, ``errors`` the field/reason pairs."""

    def __init__(self, status: int, title: str, errors: list[dict], detail: str | None = None):
        super().__init__(f"{title}: {errors}")
        self.status = status
        self.title = title
        self.errors = errors
        self.detail = detail


@dataclass(frozen=True)
class Event:
    """Fields every event has. ``occurred_us`` is UTC microseconds since the epoch."""

    id: str
    account: str
    occurred_us: int
    body: str = field(repr=False)  # canonical JSON of the event as received (sorted keys)

    type = ""

    @property
    def occurred_at(self) -> datetime:
        return from_us(self.occurred_us)


@dataclass(frozen=True)
class SeatActivated(Event):
    user: str
    type = "seat.activated"


@dataclass(frozen=True)
class SeatDeactivated(Event):
    user: str
    type = "seat.deactivated"


@dataclass(frozen=True)
class PlanChanged(Event):
    plan: str
    type = "account.plan_changed"


@dataclass(frozen=True)
class SeatsSnapshot(Event):
    users: tuple[str, ...]
    type = "account.seats_snapshot"


@dataclass(frozen=True)
class AddonsChanged(Event):
    addons: tuple[str, ...]
    type = "account.addons_changed"


@dataclass(frozen=True)
class AccountLinked(Event):
    provider: str
    subscription: str
    plan: str
    timezone: str | None = None  # optional; None: the plan's own timezone (mappings/) applies
    type = "account.linked"


@dataclass(frozen=True)
class AccountUnlinked(Event):
    """Ends the account's link (from its instant on), so its subscription can be linked to another account."""

    type = "account.unlinked"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (SeatActivated, SeatDeactivated, PlanChanged, SeatsSnapshot, AddonsChanged, AccountLinked,
                AccountUnlinked)
}
COMMON_FIELDS = ("id", "type", "account", "occurred_at")
# Per type: (required fields, optional fields).
TYPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "seat.activated": (("user",), ()),
    "seat.deactivated": (("user",), ()),
    "account.plan_changed": (("plan",), ()),
    "account.seats_snapshot": (("users",), ()),
    "account.addons_changed": (("addons",), ()),
    "account.linked": (("provider", "subscription", "plan"), ("timezone",)),
    "account.unlinked": ((), ()),
}


def canonical(event: dict) -> str:
    """The form events are stored and compared in: sorted keys, no whitespace."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Batch:
    """The events of one request in order (repeats included: each gets a result) and their JSON pointers."""

    events: list[Event]
    pointers: list[str]

    def __iter__(self):
        return iter(self.events)

    def __len__(self):
        return len(self.events)

    def __getitem__(self, index):
        return self.events[index]


def parse_body(body: bytes | str, *, plans: Collection[str], addons: Collection[str],
               latest_us: int | None = None) -> Batch:
    """A request body → its events, in order.

    Raises ``IntakeError`` with status 400 (not JSON), 413 (too many events),
    409 (one id, two different events) or 422 (schema). ``latest_us``: no ``occurred_at`` may be later
    (the server's clock plus ``SEATSYNC_MAX_FUTURE``; the caller passes it, this module reads no clock).
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        document = json.loads(text)
    except UnicodeDecodeError:
        raise IntakeError(400, "Malformed JSON", [{"field": "", "reason": "body is not UTF-8"}]) from None
    except ValueError as exc:
        raise IntakeError(400, "Malformed JSON", [{"field": "", "reason": f"not valid JSON: {exc}"}]) from None
    except RecursionError:
        raise IntakeError(400, "Malformed JSON", [{"field": "", "reason": "nested too deeply"}]) from None
    return parse_document(document, plans=plans, addons=addons, latest_us=latest_us)


def parse_document(document: Any, *, plans: Collection[str], addons: Collection[str],
                   latest_us: int | None = None) -> Batch:
    if not isinstance(document, dict):
        raise IntakeError(422, "Invalid event",
                          [{"field": "", "reason": "must be an event object or {\"events\": [...]}"}])
    if "events" in document:
        extra = sorted(set(document) - {"events"})
        if extra:
            raise IntakeError(422, "Invalid event", [
                {"field": f"/{name}", "reason": "unknown field next to 'events'"} for name in extra
            ])
        raw_events = document["events"]
        if not isinstance(raw_events, list):
            raise IntakeError(422, "Invalid event", [{"field": "/events", "reason": "must be an array"}])
        if not raw_events:
            raise IntakeError(422, "Invalid event", [{"field": "/events", "reason": "must hold at least one event"}])
        if len(raw_events) > MAX_EVENTS:
            raise IntakeError(413, "Too many events", [
                {"field": "/events", "reason": f"at most {MAX_EVENTS} events per request, got {len(raw_events)}"}
            ])
        pointers = [f"/events/{index}" for index in range(len(raw_events))]
    else:
        raw_events = [document]
        pointers = [""]

    errors: list[dict] = []
    events: list[Event] = []
    first_by_id: dict[str, tuple[str, Event]] = {}
    conflicts: list[dict] = []
    for pointer, raw in zip(pointers, raw_events):
        event = parse_event(raw, pointer, plans=plans, addons=addons, errors=errors, latest_us=latest_us)
        if event is None:
            continue
        events.append(event)
        seen = first_by_id.setdefault(event.id, (pointer, event))
        if seen[1].body != event.body:
            conflicts.append({"field": f"{pointer}/id",
                              "reason": f"id {event.id!r} already used in this batch at {seen[0] or '/'}"
                                        " for a different event"})
    if errors:
        raise IntakeError(422, "Invalid event", errors)
    if conflicts:
        raise IntakeError(409, "Conflicting event id", conflicts)
    return Batch(events, pointers)


def _string(raw: dict, name: str, pointer: str, errors: list[dict]) -> str | None:
    return _check_string(raw[name], f"{pointer}/{name}", errors)


def _check_string(value: Any, field_pointer: str, errors: list[dict]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        reason = "must be a non-empty string"
    elif len(value) > MAX_ID_LENGTH:
        reason = f"must be at most {MAX_ID_LENGTH} characters"
    elif _CONTROL.search(value):
        reason = "must not contain control characters"
    elif not _encodable(value):
        reason = "must be valid Unicode (a lone UTF-16 surrogate cannot be stored)"
    else:
        return value
    errors.append({"field": field_pointer, "reason": reason})
    return None


def _string_list(raw: dict, name: str, pointer: str, errors: list[dict]) -> tuple[str, ...] | None:
    value = raw[name]
    if not isinstance(value, list):
        errors.append({"field": f"{pointer}/{name}", "reason": "must be an array of strings"})
        return None
    items: list[str] = []
    ok = True
    seen: set[str] = set()
    for index, item in enumerate(value):
        text = _check_string(item, f"{pointer}/{name}/{index}", errors)
        if text is None:
            ok = False
        elif text in seen:
            errors.append({"field": f"{pointer}/{name}/{index}", "reason": f"{text!r} is listed twice"})
            ok = False
        else:
            seen.add(text)
            items.append(text)
    return tuple(items) if ok else None


def parse_event(raw: Any, pointer: str, *, plans: Collection[str], addons: Collection[str],
                errors: list[dict], latest_us: int | None = None) -> Event | None:
    """One event object → an ``Event``, or ``None`` with its problems appended to ``errors``."""
    if not isinstance(raw, dict):
        errors.append({"field": pointer or "/", "reason": "must be an event object"})
        return None
    before = len(errors)
    for name in COMMON_FIELDS:
        if name not in raw:
            errors.append({"field": f"{pointer}/{name}", "reason": "is required"})
    event_type = raw.get("type")
    if "type" in raw and not (isinstance(event_type, str) and event_type in EVENT_TYPES):
        errors.append({"field": f"{pointer}/type",
                       "reason": f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}"})
        event_type = None
    values: dict[str, Any] = {}
    for name in ("id", "account"):
        if name in raw:
            values[name] = _string(raw, name, pointer, errors)
    if "occurred_at" in raw:
        occurred = _occurred(raw["occurred_at"], pointer, latest_us, errors)
        if occurred is not None:
            values["occurred_us"] = occurred
    if event_type is None:
        return None

    required, optional = TYPE_FIELDS[event_type]
    for name in required:
        if name not in raw:
            errors.append({"field": f"{pointer}/{name}", "reason": f"is required for {event_type}"})
    allowed = set(COMMON_FIELDS) | set(required) | set(optional)
    for name in sorted(set(raw) - allowed):
        errors.append({"field": f"{pointer}/{name}", "reason": f"unknown field for {event_type}"})

    values.update(_typed_fields(raw, pointer, required, optional, plans=plans, addons=addons, errors=errors))

    if len(errors) > before:
        return None
    return EVENT_TYPES[event_type](body=canonical(raw), **values)


def _occurred(value: Any, pointer: str, latest_us: int | None, errors: list[dict]) -> int | None:
    """``occurred_at`` as integer microseconds, or None with its problem appended to ``errors``."""
    try:
        occurred = parse_instant(value)
    except ValueError as exc:
        errors.append({"field": f"{pointer}/occurred_at", "reason": str(exc)})
        return None
    if latest_us is not None and occurred > latest_us:
        # A clock or unit mistake in the product (two years ahead, milliseconds read as seconds):
        # accepted, it would decide the seat count for every instant until then.
        errors.append({"field": f"{pointer}/occurred_at",
                       "reason": f"is in the future: later than {format_us(latest_us)} (the server's "
                                 f"clock plus SEATSYNC_MAX_FUTURE)"})
        return None
    return occurred


def _typed_fields(raw: dict, pointer: str, required: Collection[str], optional: Collection[str], *,
                  plans: Collection[str], addons: Collection[str], errors: list[dict]) -> dict[str, Any]:
    """The values of an event type's own fields present in ``raw``, each checked; problems go to ``errors``."""
    values: dict[str, Any] = {}
    if "user" in required and "user" in raw:
        values["user"] = _string(raw, "user", pointer, errors)
    if "users" in required and "users" in raw:
        values["users"] = _string_list(raw, "users", pointer, errors)
    if "plan" in required and "plan" in raw:
        plan = _string(raw, "plan", pointer, errors)
        if plan is not None and plan not in plans:
            errors.append({"field": f"{pointer}/plan", "reason": f"unknown plan {plan!r}; not in the catalogue"})
        values["plan"] = plan
    if "addons" in required and "addons" in raw:
        ids = _string_list(raw, "addons", pointer, errors)
        if ids is not None:
            for index, addon in enumerate(ids):
                if addon not in addons:
                    errors.append({"field": f"{pointer}/addons/{index}",
                                   "reason": f"unknown addon {addon!r}; not in the catalogue"})
        values["addons"] = tuple(sorted(ids)) if ids is not None else None
    if "provider" in required and "provider" in raw:
        provider = raw["provider"]
        if not isinstance(provider, str) or provider not in registry.NAMES:
            errors.append({"field": f"{pointer}/provider", "reason": f"must be one of {', '.join(registry.NAMES)}"})
        values["provider"] = provider
    if "subscription" in required and "subscription" in raw:
        values["subscription"] = _string(raw, "subscription", pointer, errors)
    if "timezone" in optional and "timezone" in raw:
        values["timezone"] = _timezone(raw["timezone"], f"{pointer}/timezone", errors)
    return values


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timezone(value: Any, pointer: str, errors: list[dict]) -> str | None:
    if not isinstance(value, str) or not value:
        errors.append({"field": pointer, "reason": "must be an IANA time zone name such as Europe/Berlin"})
        return None
    if len(value) > MAX_TIMEZONE_LENGTH or not _encodable(value) or _CONTROL.search(value):
        errors.append({"field": pointer, "reason": f"must be an IANA time zone name of at most "
                                                   f"{MAX_TIMEZONE_LENGTH} characters, such as Europe/Berlin"})
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name the file system refuses
        errors.append({"field": pointer, "reason": f"unknown IANA time zone {value!r}"})
        return None
    return value

