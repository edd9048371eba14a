"""Standard Webhooks signatures for the product feed, through the ``standardwebhooks`` library.

The library computes the HMAC (``Webhook.sign``); this module checks the ±5 minute tolerance against
its ``now`` (so tests can replay the spec's own example), names which header is wrong and why, and
compares each ``v1`` entry in constant time. Entries of other versions are skipped whatever their
value, as the spec says consumers must (docs/standard-webhooks.md#python-library).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

from standardwebhooks import Webhook

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
TOLERANCE_SECONDS = 5 * 60  # what the library enforces; checked here first to name the reason


class SignatureError(Exception):
    """Verification failed; ``header`` names the header at fault."""

    def __init__(self, header: str, reason: str):
        super().__init__(f"{header}: {reason}")
        self.header = header
        self.reason = reason


@lru_cache(maxsize=32)
def _webhook(secret: str) -> Webhook:
    return Webhook(secret)


class Headers(Protocol):
    """A request's headers: a ``Mapping[str, str]``, or Flask's ``request.headers`` (case-insensitive)."""

    def get(self, key: str, /) -> str | None: ...


def verify(secrets: Iterable[str], body: bytes, headers: Headers, *, now: float | None = None) -> None:
    """Accept when any one of ``secrets`` signed ``body`` (rotation); raise ``SignatureError`` otherwise."""
    found: dict[str, str] = {}
    for name in HEADERS:
        value = headers.get(name)
        if not value:
            raise SignatureError(name, "header is missing")
        found[name] = value
    msg_id, timestamp, signature = found["webhook-id"], found["webhook-timestamp"], found["webhook-signature"]
    # "²".isdigit() is True and int("²") fails; int() refuses more than 4,300 digits (CPython's limit).
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise SignatureError("webhook-timestamp", "must be integer Unix seconds")
    now = time.time() if now is None else now
    if int(timestamp) < now - TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp", "too old: more than 5 minutes in the past")
    if int(timestamp) > now + TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp", "too new: more than 5 minutes in the future")
    # Consumers try each signature until one matches; entries of other versions (``v1a`` is ed25519,
    # future ones unknown) are skipped whatever their value, as the spec and the reference library do.
    v1_values: list[str] = []
    for entry in signature.split(" "):
        version, comma, value = entry.partition(",")
        if version != "v1":
            continue
        if not comma or not value:
            raise SignatureError("webhook-signature", "each v1 entry must be 'v1,<base64 signature>'")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("webhook-signature", "entry v1,… is not valid base64") from None
        v1_values.append(value)
    if not v1_values:
        raise SignatureError("webhook-signature", "no v1 entry ('v1,<base64 signature>'): nothing to verify")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("webhook-signature", "no signature matches: the body is not UTF-8") from None
    # The timestamp was checked above against ``now``; the library computes each secret's HMAC and the
    # comparison is constant-time, entry by entry (the library's own verify re-reads the wall clock).
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    given = [base64.b64decode(value) for value in v1_values]
    for secret in secrets:
        expected = base64.b64decode(_webhook(secret).sign(msg_id, signed_at, text).partition(",")[2])
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return
    raise SignatureError("webhook-signature", "no v1 signature matches any configured secret")


def sign(secret: str, body: str, msg_id: str, at: datetime | None = None) -> dict[str, str]:
    """The three headers a product sends with ``body``."""
    # The library stamps the datetime as UTC without converting it: convert first.
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": _webhook(secret).sign(msg_id, at, body),
    }
