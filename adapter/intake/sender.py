"""Build and send product events exactly as a product backend would (``seatsync send``).

Nothing is validated here on purpose: the receiver is the judge, so the CLI
can also show what a wrong event gets back.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from adapter.clock import format_us
from adapter.intake import signing

DEFAULT_URL = "http://127.0.0.1:8000/webhooks/product"


@dataclass(frozen=True)
class Reply:
    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def build_events(event_type: str, *, account: str, users: tuple[str, ...] = (), plan: str | None = None,
                 addons: tuple[str, ...] = (), provider: str | None = None, subscription: str | None = None,
                 timezone: str | None = None, at_us: int, event_id: str | None = None) -> list[dict]:
    """The events for one ``send``: one per user for seat events, otherwise exactly one."""
    base: dict[str, str | list[str]] = {"type": event_type, "account": account, "occurred_at": format_us(at_us)}
    if event_type in ("seat.activated", "seat.deactivated"):
        if not users:
            users = ("",)  # let the receiver name the missing user
        events = [dict(base, user=user) if user else dict(base) for user in users]
    else:
        event = dict(base)
        if event_type == "account.seats_snapshot":
            event["users"] = list(users)
        elif event_type == "account.addons_changed":
            event["addons"] = list(addons)
        elif event_type == "account.linked":
            for name, value in (("provider", provider), ("subscription", subscription), ("timezone", timezone)):
                if value is not None:
                    event[name] = value
        if plan is not None and event_type in ("account.plan_changed", "account.linked"):
            event["plan"] = plan
        events = [event]
    for index, event in enumerate(events):
        if event_id is None:
            event["id"] = f"evt_{uuid.uuid4().hex}"
        else:
            event["id"] = event_id if len(events) == 1 else f"{event_id}-{index + 1}"
    return events


def encode(events: list[dict]) -> str:
    return json.dumps(events[0] if len(events) == 1 else {"events": events})


def post_signed(url: str, body: str, secret: str, *, timeout: float = 30.0) -> Reply:
    """POST ``body`` signed with ``secret``; an HTTP error status is a reply, not an exception."""
    headers = signing.sign(secret, body, f"msg_{uuid.uuid4().hex}")
    headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body.encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode("utf-8", "replace"))
