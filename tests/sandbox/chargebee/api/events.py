"""``/api/v2/events``, ``/api/v2/webhook_endpoints`` (configuration, ops/endpoints.py) and
``/api/v2/time_machines``, plus the Chargebee-shaped 404 for unknown paths."""

from __future__ import annotations

from flask import Blueprint

from .. import params as p
from .http import current_state, listing, match_string, match_time, read, write
from .http import with_delivery_status
from ..errors import ChargebeeError, not_found, wrong_value
from ..ops import endpoints, renewals
from ..state import TIME_MACHINE, public
from ...core import current_world

bp = Blueprint("events", __name__)


@bp.get("/events")
def list_events():
    state = current_state()

    def operation(prm):
        events = [ev for ev in state.events.values()
                  if match_time(prm, "occurred_at", ev["occurred_at"])
                  and match_string(prm, "event_type", ev["event_type"])
                  and match_string(prm, "source", ev["source"])
                  and match_string(prm, "id", ev["id"])]
        order = {ev["id"]: n for n, ev in enumerate(state.events.values())}
        sort = prm.get("sort_by")
        ascending = isinstance(sort, dict) and sort.get("asc") == "occurred_at"
        if sort is not None and not (isinstance(sort, dict) and "occurred_at" in sort.values()):
            raise wrong_value("sort_by", "sort_by : only occurred_at is supported")
        events.sort(key=lambda ev: (ev["occurred_at"], order[ev["id"]]), reverse=not ascending)
        return listing(events, "event", prm, lambda ev: with_delivery_status(current_world(), ev))
    return read(operation, declared="Event.ListParams")


@bp.get("/events/<event_id>")
def retrieve_event(event_id):
    state = current_state()

    def operation(prm):
        event = state.events.get(event_id)
        if event is None:
            raise not_found("event_id", f"Sorry, we couldn't find that resource: event {event_id}")
        return {"event": with_delivery_status(current_world(), event)}
    return read(operation, declared=None)


@bp.post("/webhook_endpoints")
def create_webhook_endpoint():
    state = current_state()
    return write(lambda prm: ({"webhook_endpoint": public(endpoints.create(state, prm))}, 200),
                 declared="WebhookEndpoint.CreateParams")


@bp.get("/webhook_endpoints/<endpoint_id>")
def retrieve_webhook_endpoint(endpoint_id):
    state = current_state()
    return read(lambda prm: {"webhook_endpoint": public(endpoints.get(state, endpoint_id))}, declared=None)


@bp.post("/webhook_endpoints/<endpoint_id>")
def update_webhook_endpoint(endpoint_id):
    state = current_state()
    return write(lambda prm: ({"webhook_endpoint": public(endpoints.update(state, endpoint_id, prm))}, 200),
                 declared="WebhookEndpoint.UpdateParams")


@bp.post("/webhook_endpoints/<endpoint_id>/delete")
def delete_webhook_endpoint(endpoint_id):
    state = current_state()
    return write(lambda prm: ({"webhook_endpoint": public(endpoints.delete(state, endpoint_id))}, 200),
                 declared=None)


@bp.get("/webhook_endpoints")
def list_webhook_endpoints():
    state = current_state()
    return read(lambda prm: listing([e for e in state.webhook_endpoints.values() if not e["_deleted"]],
                                    "webhook_endpoint", prm), declared="WebhookEndpoint.ListParams")


def _time_machine(name: str) -> None:
    if name != TIME_MACHINE:
        raise not_found("time_machine_name", f"Sorry, we couldn't find that resource: time_machine {name}")


@bp.get("/time_machines/<name>")
def retrieve_time_machine(name):
    state = current_state()

    def operation(prm):
        _time_machine(name)
        return {"time_machine": dict(state.time_machine)}
    return read(operation, declared=None)


@bp.post("/time_machines/<name>/travel_forward")
def travel_forward(name):
    state = current_state()

    def operation(prm):
        _time_machine(name)
        destination = p.required(p.integer(prm, "destination_time"), "destination_time")
        renewals.travel_forward(state, destination * 1000)
        return {"time_machine": dict(state.time_machine)}, 200
    return write(operation, declared="TimeMachine.TravelForwardParams")


@bp.post("/time_machines/<name>/start_afresh")
def start_afresh(name):
    state = current_state()

    def operation(prm):
        _time_machine(name)
        genesis = p.integer(prm, "genesis_time", state.now)
        state.clear_data(genesis * 1000)
        return {"time_machine": dict(state.time_machine)}, 200
    return write(operation, declared="TimeMachine.StartAfreshParams", idempotent=False)


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown_path(unknown):
    # The app-wide 404 answers in Stripe's shape; chargebee-python needs api_error_code.
    raise ChargebeeError(404, "resource_not_found", f"Sorry, we couldn't find that resource: /{unknown}")
