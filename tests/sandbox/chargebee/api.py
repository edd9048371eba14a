"""``/api/v2``: the HTTP face of the sandboxed Chargebee site.

Every request: injected faults first, then Basic auth (API key as user name,
empty password), then the site's rate limit (429 ``api_request_limit_exceeded``).
Writes run under ``world.lock`` on a snapshot that is restored if the request
is rejected, so a 4xx leaves nothing behind. POST writes honour
``chargebee-idempotency-key`` (estimates do not: reference §4).
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
from typing import Callable

from flask import Blueprint, Response, request

from . import billing, catalog
from . import params as p
from .errors import ChargebeeError, lock_timeout, not_found, rate_limited, wrong_value
from .events import publish
from .state import ChargebeeState, TIME_MACHINE, public

IDEMPOTENCY_HEADER = "chargebee-idempotency-key"
REPLAYED_HEADER = "chargebee-idempotency-replayed"
IDEMPOTENCY_WINDOW_MS = 30 * 60 * 1000  # reference §6: 30 minutes


def _json(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


def _params() -> dict:
    pairs = list((request.args if request.method == "GET" else request.form).items(multi=True))
    return p.decode(pairs)


def _authenticated(state: ChargebeeState) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, _password = base64.b64decode(header[6:], validate=True).decode("latin1").partition(":")
    except (binascii.Error, ValueError):
        return False
    return bool(user) and state.settings.api_key in (None, user)


def _listing(objects: list[dict], key: str, params: dict, render: Callable[[dict], dict] = public,
             companions: Callable[[dict], dict] | None = None) -> dict:
    """One page of ``{"list": [{key: obj, **companions}], "next_offset"}``; companions are the
    other resources an entry carries (a subscription entry has its customer)."""
    limit = p.integer(params, "limit", 10, minimum=1, maximum=100)
    offset = p.string(params, "offset")
    start = 0
    if offset is not None:
        try:
            start = int(json.loads(offset)[0])
        except (ValueError, TypeError, IndexError, KeyError):
            raise wrong_value("offset", "offset : invalid value") from None
    page = objects[start:start + limit]
    body = {"list": [{key: render(obj)} | (companions(obj) if companions else {}) for obj in page]}
    if start + limit < len(objects):
        body["next_offset"] = json.dumps([str(start + limit)])
    return body


def _values(raw: str) -> list[str]:
    # chargebee-python sends ``in`` filters as str(list) (Python repr); accept JSON too.
    for parse in (json.loads, ast.literal_eval):
        try:
            values = parse(raw)
        except (ValueError, SyntaxError):
            continue
        if isinstance(values, list):
            return [str(v) for v in values]
    raise wrong_value("filter", f"invalid list value {raw!r}")


def _match_string(params: dict, name: str, value: str | None) -> bool:
    found = p.filter_value(params, name, ("is", "is_not", "in", "not_in"))
    if found is None:
        return True
    operator, wanted = found
    if operator == "is":
        return value == wanted
    if operator == "is_not":
        return value != wanted
    values = _values(wanted)
    return (value in values) if operator == "in" else (value not in values)


def _match_time(params: dict, name: str, value: int) -> bool:
    found = p.filter_value(params, name, ("after", "before", "on", "between"))
    if found is None:
        return True
    operator, raw = found
    if operator == "between":
        bounds = _values(raw)
        if len(bounds) != 2 or not all(b.lstrip("-").isdigit() for b in bounds):
            raise wrong_value(f"{name}[between]", f"{name}[between] : needs two timestamps")
        return int(bounds[0]) <= value <= int(bounds[1])
    if not raw.lstrip("-").isdigit():
        raise wrong_value(f"{name}[{operator}]", f"{name}[{operator}] : invalid timestamp")
    limit = int(raw)
    return {"after": value > limit, "before": value < limit, "on": value == limit}[operator]


def _sorted(objects: list[dict], params: dict, field: str) -> list[dict]:
    """Newest first unless ``sort_by[asc]=<field>`` (default order: sandbox choice, unverified)."""
    sort = params.get("sort_by")
    ascending = False
    if sort is not None:
        if not isinstance(sort, dict) or len(sort) != 1 or list(sort.values())[0] != field:
            raise wrong_value("sort_by", f"sort_by : only sort_by[asc] or sort_by[desc] = {field} is supported")
        ascending = "asc" in sort
    return sorted(objects, key=lambda o: (o[field], o.get("resource_version", 0)), reverse=not ascending)


def _with_delivery_status(world, event: dict) -> dict:
    """``webhook_status`` from the dispatcher's log: succeeded once any copy got a 2xx,
    failed after the last retry, re_scheduled while retries remain."""
    if event["webhook_status"] == "not_configured":
        return event
    outcomes = {entry["outcome"] for entry in list(world.webhooks.log) if entry["event_id"] == event["id"]}
    if "delivered" in outcomes:
        status = "succeeded"
    elif "gave_up" in outcomes:
        status = "failed"
    elif "failed" in outcomes:
        status = "re_scheduled"
    else:
        status = event["webhook_status"]
    return event | {"webhook_status": status}


def create_api_blueprint(world, state: ChargebeeState) -> Blueprint:
    bp = Blueprint("chargebee_api", __name__)

    @bp.errorhandler(ChargebeeError)
    def chargebee_error(exc: ChargebeeError):
        return exc.response()

    @bp.before_request
    def gatekeeping():
        failure = world.faults.maybe_fail("chargebee")
        if failure is not None:
            return failure
        if not _authenticated(state):
            return ChargebeeError(401, "api_authentication_failed",
                                  "Sorry, authentication failed. Invalid api key").response()
        if not state.limiter.allow("site"):
            return rate_limited().response()
        return None

    def write(operation: Callable[[dict], tuple[dict, int]], *, lock_key: str | None = None,
              idempotent: bool = True) -> Response:
        """Run a state-changing operation: idempotency, object lock, all-or-nothing."""
        form = list(request.form.items(multi=True))
        key = request.headers.get(IDEMPOTENCY_HEADER) if idempotent else None
        if key is not None and not 0 < len(key) <= 100:
            raise wrong_value(IDEMPOTENCY_HEADER, "chargebee-idempotency-key must be 1 to 100 characters")
        fingerprint = world.idempotency.fingerprint(request.method, request.path, sorted(form))
        if lock_key is not None and not world.object_locks.acquire(lock_key):
            raise lock_timeout()
        try:
            with world.lock:
                if key is not None:
                    stored = state.idempotency.get(key)
                    if stored is not None and state.now_ms - stored["at"] <= IDEMPOTENCY_WINDOW_MS:
                        if stored["fingerprint"] != fingerprint:
                            raise ChargebeeError(422, "unable_to_process_request",
                                                 "The idempotency key was already used with different request "
                                                 "parameters.", param=IDEMPOTENCY_HEADER)
                        return _json(stored["body"], stored["status"], {REPLAYED_HEADER: "true"})
                before = state.snapshot()
                try:
                    body, status = operation(p.decode(form))
                except ChargebeeError:
                    state.restore(before)
                    raise
                publish(state, world)
                if key is not None and 200 <= status < 300:
                    state.idempotency[key] = {"fingerprint": fingerprint, "status": status, "body": body,
                                              "at": state.now_ms}
                return _json(body, status)
        finally:
            if lock_key is not None:
                world.object_locks.release(lock_key)

    def read(operation: Callable[[dict], dict]) -> Response:
        with world.lock:
            return _json(operation(_params()))

    def subscription_body(sub: dict, outcome: billing.Outcome | None = None, *, refresh: bool = True) -> dict:
        body = {"subscription": billing.render_subscription(state, sub),
                "customer": catalog.render_customer(state, state.customers[sub["customer_id"]], refresh=refresh)}
        if outcome is not None:
            if outcome.invoice is not None:
                body["invoice"] = public(outcome.invoice)
            if outcome.unbilled_charges:
                body["unbilled_charges"] = public(outcome.unbilled_charges)
            if outcome.credit_notes:
                body["credit_notes"] = public(outcome.credit_notes)
        return body

    # customers -------------------------------------------------------------------

    @bp.post("/customers")
    def create_customer():
        return write(lambda prm: ({"customer": catalog.render_customer(state, catalog.create_customer(state, prm))}, 200))

    @bp.get("/customers/<customer_id>")
    def retrieve_customer(customer_id):
        return read(lambda prm: {"customer": catalog.render_customer(state, catalog.get_customer(state, customer_id),
                                                                     refresh=False)})

    @bp.get("/customers")
    def list_customers():
        return read(lambda prm: _listing(_sorted(list(state.customers.values()), prm, "created_at"), "customer", prm,
                                         lambda c: catalog.render_customer(state, c, refresh=False)))

    # catalog ---------------------------------------------------------------------

    @bp.post("/items")
    def create_item():
        return write(lambda prm: ({"item": public(catalog.create_item(state, prm))}, 200))

    @bp.get("/items/<item_id>")
    def retrieve_item(item_id):
        return read(lambda prm: {"item": public(catalog.get_item(state, item_id))})

    @bp.get("/items")
    def list_items():
        return read(lambda prm: _listing(list(state.items.values()), "item", prm))

    @bp.post("/item_prices")
    def create_item_price():
        return write(lambda prm: ({"item_price": public(catalog.create_item_price(state, prm))}, 200))

    @bp.get("/item_prices/<price_id>")
    def retrieve_item_price(price_id):
        return read(lambda prm: {"item_price": public(catalog.get_item_price(state, price_id, "item_price_id"))})

    @bp.get("/item_prices")
    def list_item_prices():
        return read(lambda prm: _listing(
            [ip for ip in state.item_prices.values() if _match_string(prm, "item_id", ip["item_id"])],
            "item_price", prm))

    # subscriptions ------------------------------------------------------------------

    @bp.post("/customers/<customer_id>/subscription_for_items")
    def create_subscription(customer_id):
        def operation(prm):
            sub, outcome = billing.create_with_items(state, customer_id, prm)
            return subscription_body(sub, outcome), 200
        return write(operation)

    @bp.get("/subscriptions/<sub_id>")
    def retrieve_subscription(sub_id):
        return read(lambda prm: subscription_body(billing.get_subscription(state, sub_id), refresh=False))

    @bp.get("/subscriptions")
    def list_subscriptions():
        def operation(prm):
            subs = [s for s in state.subscriptions.values() if _match_string(prm, "customer_id", s["customer_id"])]
            return _listing(_sorted(subs, prm, "created_at"), "subscription", prm,
                            lambda s: billing.render_subscription(state, s),
                            lambda s: {"customer": catalog.render_customer(state, state.customers[s["customer_id"]],
                                                                           refresh=False)})
        return read(operation)

    @bp.post("/subscriptions/<sub_id>/update_for_items")
    def update_for_items(sub_id):
        def operation(prm):
            sub, outcome = billing.update_for_items(state, sub_id, prm)
            return subscription_body(sub, outcome), 200
        return write(operation, lock_key=f"chargebee:subscription:{sub_id}")

    # estimates ---------------------------------------------------------------------------

    @bp.post("/estimates/update_subscription_for_items")
    def estimate_update(**_):
        def operation(prm):
            sub_fields = prm.get("subscription") if isinstance(prm.get("subscription"), dict) else {}
            sub_id = p.required(p.string(sub_fields, "id", wire="subscription[id]"), "subscription[id]")
            return {"estimate": estimate_update_for_items(state, sub_id, prm)}, 200
        # Estimates change nothing: the operation runs on a snapshot inside.
        return write(operation, idempotent=False)

    # unbilled charges -----------------------------------------------------------------------

    @bp.get("/unbilled_charges")
    def list_unbilled():
        def operation(prm):
            include_deleted = p.boolean(prm, "include_deleted", False)
            voided_filter = p.filter_value(prm, "is_voided", ("is",))
            want_voided = voided_filter is not None and voided_filter[1] == "true"
            charges = [uc for uc in state.unbilled_charges.values()
                       if (include_deleted or not uc["deleted"]) and uc["is_voided"] == want_voided
                       and _match_string(prm, "subscription_id", uc["subscription_id"])
                       and _match_string(prm, "customer_id", uc["customer_id"])]
            return _listing(charges, "unbilled_charge", prm)
        return read(operation)

    @bp.post("/unbilled_charges/invoice_unbilled_charges")
    def invoice_unbilled_charges():
        def operation(prm):
            sub_id = p.string(prm, "subscription_id")
            customer_id = p.string(prm, "customer_id")
            if (sub_id is None) == (customer_id is None):
                raise wrong_value("subscription_id", "pass either subscription_id or customer_id")
            if sub_id is not None:
                subs = [billing.get_subscription(state, sub_id)]
            else:
                catalog.get_customer(state, customer_id)
                subs = [s for s in state.subscriptions.values() if s["customer_id"] == customer_id]
            invoices = [inv for inv in (billing.invoice_unbilled(state, sub) for sub in subs) if inv is not None]
            return {"invoices": public(invoices)}, 200
        return write(operation)

    # invoices and credit notes ------------------------------------------------------------------

    @bp.get("/invoices")
    def list_invoices():
        def operation(prm):
            invoices = [inv for inv in state.invoices.values()
                        if _match_string(prm, "subscription_id", inv.get("subscription_id"))
                        and _match_string(prm, "customer_id", inv["customer_id"])
                        and _match_string(prm, "status", inv["status"])]
            return _listing(_sorted(invoices, prm, "date"), "invoice", prm)
        return read(operation)

    @bp.get("/invoices/<invoice_id>")
    def retrieve_invoice(invoice_id):
        def operation(prm):
            invoice = state.invoices.get(invoice_id)
            if invoice is None:
                raise not_found("invoice_id", f"Sorry, we couldn't find that resource: invoice {invoice_id}")
            return {"invoice": public(invoice)}
        return read(operation)

    @bp.post("/invoices/<invoice_id>/collect_payment")
    def collect_payment(invoice_id):
        def operation(prm):
            invoice, txn = billing.collect_payment(state, invoice_id)
            if txn["status"] != "success":
                # The failed attempt stays recorded (failed transaction, dunning,
                # payment_failed event), so this is an answer, not a rollback.
                return ChargebeeError(400, "payment_processing_failed", "Your card was declined.",
                                      type="payment").body(), 400
            return {"invoice": public(invoice), "transaction": public(txn)}, 200
        return write(operation)

    @bp.get("/credit_notes")
    def list_credit_notes():
        def operation(prm):
            notes = [cn for cn in state.credit_notes.values()
                     if _match_string(prm, "subscription_id", cn.get("subscription_id"))
                     and _match_string(prm, "customer_id", cn["customer_id"])
                     and _match_string(prm, "type", cn["type"])
                     and _match_string(prm, "reference_invoice_id", cn.get("reference_invoice_id"))]
            return _listing(_sorted(notes, prm, "date"), "credit_note", prm)
        return read(operation)

    @bp.get("/credit_notes/<cn_id>")
    def retrieve_credit_note(cn_id):
        def operation(prm):
            cn = state.credit_notes.get(cn_id)
            if cn is None:
                raise not_found("credit_note_id", f"Sorry, we couldn't find that resource: credit_note {cn_id}")
            return {"credit_note": public(cn)}
        return read(operation)

    # events ---------------------------------------------------------------------------------

    @bp.get("/events")
    def list_events():
        def operation(prm):
            events = [ev for ev in state.events.values()
                      if _match_time(prm, "occurred_at", ev["occurred_at"])
                      and _match_string(prm, "event_type", ev["event_type"])
                      and _match_string(prm, "source", ev["source"])
                      and _match_string(prm, "id", ev["id"])]
            order = {ev["id"]: n for n, ev in enumerate(state.events.values())}
            sort = prm.get("sort_by")
            ascending = isinstance(sort, dict) and sort.get("asc") == "occurred_at"
            if sort is not None and not (isinstance(sort, dict) and "occurred_at" in sort.values()):
                raise wrong_value("sort_by", "sort_by : only occurred_at is supported")
            events.sort(key=lambda ev: (ev["occurred_at"], order[ev["id"]]), reverse=not ascending)
            return _listing(events, "event", prm, lambda ev: _with_delivery_status(world, ev))
        return read(operation)

    @bp.get("/events/<event_id>")
    def retrieve_event(event_id):
        def operation(prm):
            event = state.events.get(event_id)
            if event is None:
                raise not_found("event_id", f"Sorry, we couldn't find that resource: event {event_id}")
            return {"event": _with_delivery_status(world, event)}
        return read(operation)

    # time machine ------------------------------------------------------------------------------

    def _time_machine(name: str) -> None:
        if name != TIME_MACHINE:
            raise not_found("time_machine_name", f"Sorry, we couldn't find that resource: time_machine {name}")

    @bp.get("/time_machines/<name>")
    def retrieve_time_machine(name):
        def operation(prm):
            _time_machine(name)
            return {"time_machine": dict(state.time_machine)}
        return read(operation)

    @bp.post("/time_machines/<name>/travel_forward")
    def travel_forward(name):
        def operation(prm):
            _time_machine(name)
            destination = p.required(p.integer(prm, "destination_time"), "destination_time")
            billing.travel_forward(state, destination * 1000)
            return {"time_machine": dict(state.time_machine)}, 200
        return write(operation)

    @bp.post("/time_machines/<name>/start_afresh")
    def start_afresh(name):
        def operation(prm):
            _time_machine(name)
            genesis = p.integer(prm, "genesis_time", state.now)
            state.clear_data(genesis * 1000)
            return {"time_machine": dict(state.time_machine)}, 200
        return write(operation, idempotent=False)

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unknown_path(unknown):
        # The app-wide 404 answers in Stripe's shape; chargebee-python needs api_error_code.
        raise ChargebeeError(404, "resource_not_found", f"Sorry, we couldn't find that resource: /{unknown}")

    return bp


def estimate_update_for_items(state: ChargebeeState, sub_id: str, prm: dict) -> dict:
    """Run the change on a copy of the site and describe what it would create."""
    twin = state.snapshot()
    sub, outcome = billing.update_for_items(twin, sub_id, prm)
    estimate = {"created_at": state.now, "object": "estimate",
                "subscription_estimate": {"id": sub["id"], "status": sub["status"],
                                          "currency_code": sub["currency_code"],
                                          "next_billing_at": billing.render_subscription(twin, sub)["next_billing_at"],
                                          "object": "subscription_estimate"},
                "credit_note_estimates": [_credit_note_estimate(cn) for cn in outcome.credit_notes]}
    if outcome.invoice is not None:
        estimate["invoice_estimate"] = _invoice_estimate(outcome.invoice)
    else:
        future = twin.snapshot()
        renewal = billing.renew(future, future.subscriptions[sub["id"]])
        if renewal is not None:
            estimate["next_invoice_estimate"] = _invoice_estimate(renewal)
    if not p.boolean(prm, "invoice_immediately", state.settings.invoice_immediately):
        estimate["unbilled_charge_estimates"] = public(
            [uc for uc in twin.unbilled_charges.values()
             if uc["subscription_id"] == sub["id"] and not uc["is_voided"] and not uc["deleted"]])
    return estimate


def _invoice_estimate(invoice: dict) -> dict:
    keys = ("recurring", "price_type", "sub_total", "total", "credits_applied", "amount_paid", "amount_due",
            "round_off_amount", "currency_code", "line_items")
    shown = {k: invoice[k] for k in keys}
    # An estimate is before collection: what would be due once credits are applied.
    shown.update(amount_paid=0, amount_due=invoice["total"] - invoice["credits_applied"], object="invoice_estimate")
    return public(shown)


def _credit_note_estimate(cn: dict) -> dict:
    keys = ("type", "price_type", "sub_total", "total", "amount_allocated", "amount_available",
            "round_off_amount", "currency_code", "line_items")
    shown = {k: cn[k] for k in keys}
    if "reference_invoice_id" in cn:
        shown["reference_invoice_id"] = cn["reference_invoice_id"]
    shown["object"] = "credit_note_estimate"
    return public(shown)
