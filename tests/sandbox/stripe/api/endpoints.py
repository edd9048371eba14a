"""``/v1/webhook_endpoints``: create, retrieve, list, update, delete (``tests.sandbox.stripe.ops.endpoints``)."""

from __future__ import annotations

from flask import Blueprint

from .. import params as P
from .http import paginate, run
from ..ops import endpoints
from ..ops.objects import render
from ..state import Ledger

bp = Blueprint("webhook_endpoints", __name__)


@bp.post("/webhook_endpoints")
def create_endpoint():
    def act(ledger: Ledger, p: dict):
        endpoint = endpoints.create(ledger, p)
        return render(ledger, endpoint) | {"secret": endpoint["_secret"]}  # "Only returned at creation"
    return run("WebhookEndpointCreateParams", {"url", "enabled_events", "api_version", "description", "metadata",
                                               "expand"}, act)


@bp.get("/webhook_endpoints/<eid>")
def retrieve_endpoint(eid):
    return run("WebhookEndpointRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, endpoints.get(ledger, eid)))


@bp.get("/webhook_endpoints")
def list_endpoints():
    def act(ledger: Ledger, p: dict):
        live = [e for e in ledger.webhook_endpoints.values()[::-1] if not e.get("_deleted")]
        return paginate(live, p, "/v1/webhook_endpoints", lambda obj: render(ledger, obj))
    return run("WebhookEndpointListParams", {"limit", "starting_after", "ending_before", "expand"}, act)


@bp.post("/webhook_endpoints/<eid>")
def update_endpoint(eid):
    def act(ledger: Ledger, p: dict):
        return render(ledger, endpoints.update(ledger, endpoints.get(ledger, eid), p, P.as_bool(p, "disabled")))
    return run("WebhookEndpointUpdateParams", {"url", "enabled_events", "disabled", "description", "metadata",
                                               "expand"}, act)


@bp.delete("/webhook_endpoints/<eid>")
def delete_endpoint(eid):
    def act(ledger: Ledger, p: dict):
        endpoint = endpoints.get(ledger, eid)
        endpoint["_deleted"] = True
        return {"id": eid, "object": "webhook_endpoint", "deleted": True}
    return run("WebhookEndpointDeleteParams", set(), act)
