"""Events: recorded during an operation, published once it has succeeded.

Shape per reference §5 (MOCK captures): ``{id, occurred_at (s), source,
object: "event", api_version: "v2", event_type, content, webhook_status}``.
Array keys in ``content`` are plural (``unbilled_charges``, ``credit_notes``).
"""

from __future__ import annotations

from typing import Any

from ..state import ChargebeeState, public


def record(state: ChargebeeState, event_type: str, content: dict[str, Any], *, source: str = "api") -> dict:
    event = {"id": f"ev_sbx_{state.next_id('event').split('_')[-1]}", "occurred_at": state.now,
             "source": source, "object": "event", "api_version": "v2", "event_type": event_type,
             "content": public(content), "webhook_status": "not_configured"}
    state.pending_events.append(event)
    return event


def publish(state: ChargebeeState, world) -> list[dict]:
    """Store pending events and queue them for every registered endpoint."""
    events, state.pending_events = state.pending_events, []
    configured = bool(world.webhooks.endpoints("chargebee"))
    for event in events:
        event["webhook_status"] = "scheduled" if configured else "not_configured"
        state.events[event["id"]] = event
        world.webhooks.emit("chargebee", event)
    return events
