"""``/v1/events`` and ``/v1/test_helpers/test_clocks``."""

from __future__ import annotations

from flask import Blueprint

from ...core import current_world
from .. import params as P
from .http import created_filter, paginate, run
from ..errors import StripeError
from ..ops import clocks
from ..ops.objects import render
from ..state import Ledger

bp = Blueprint("events", __name__)


def _event(event: dict) -> dict:
    return dict(event, pending_webhooks=current_world().webhooks.pending_count(event["id"]))


@bp.get("/events/<eid>")
def retrieve_event(eid):
    def act(ledger: Ledger, p: dict):
        if eid not in ledger.events_by_id:
            raise StripeError.no_such("event", eid)
        return _event(ledger.events_by_id[eid])
    return run("EventRetrieveParams", {"expand"}, act)


@bp.get("/events")
def list_events():
    def act(ledger: Ledger, p: dict):
        created = created_filter(p.get("created"), "created")
        types = set(p.get("types") or [])
        if p.get("type") and types:
            raise StripeError.invalid("You may only specify one of these parameters: type, types.", param="types")
        if p.get("type"):
            types = {p["type"]}

        def wanted(event_type: str) -> bool:
            return not types or any(event_type == t or (t.endswith(".*") and event_type.startswith(t[:-1]))
                                    for t in types)
        # delivery_success=false: "events which are still pending or have failed all
        # delivery attempts to a webhook endpoint" (reference §5 WH-UND).
        success = P.as_bool(p, "delivery_success")
        events = [e for e in reversed(ledger.events) if created(e["created"]) and wanted(e["type"])
                  and (success is None or (current_world().webhooks.pending_count(e["id"]) == 0) == success)]
        return paginate(events, p, "/v1/events", _event)
    return run("EventListParams", {"created", "type", "types", "delivery_success", "limit", "starting_after",
                                   "ending_before", "expand"}, act)


@bp.post("/test_helpers/test_clocks")
def create_clock():
    def act(ledger: Ledger, p: dict):
        frozen = P.as_int(p, "frozen_time", minimum=0)
        if frozen is None:
            raise StripeError.missing("frozen_time")
        return render(ledger, clocks.create_clock(ledger, frozen, p.get("name")))
    return run("TestClockCreateParams", {"frozen_time", "name", "expand"}, act)


@bp.get("/test_helpers/test_clocks/<cid>")
def retrieve_clock(cid):
    return run("TestClockRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.clocks, "test clock", cid)))


@bp.post("/test_helpers/test_clocks/<cid>/advance")
def advance_clock(cid):
    def act(ledger: Ledger, p: dict):
        clock = ledger.get(ledger.clocks, "test clock", cid)
        frozen = P.as_int(p, "frozen_time")
        if frozen is None:
            raise StripeError.missing("frozen_time")
        return render(ledger, clocks.advance_clock(ledger, clock, frozen))
    return run("TestClockAdvanceParams", {"frozen_time", "expand"}, act)
