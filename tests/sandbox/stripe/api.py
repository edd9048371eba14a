"""Stripe v1 subset over HTTP: form-encoded in, JSON out, Stripe's error shape.

Every handler goes through ``_run``, which in order: decodes the form, checks
the params against stripe-python's TypedDict for the endpoint, refuses names
the sandbox does not implement, replays or rejects idempotency keys, takes the
per-object write lock (429 ``lock_timeout`` when busy), applies the change under
``world.lock``, and forwards the events it produced to the webhook dispatcher.
"""

from __future__ import annotations

import json
import time
import traceback
import logging
from typing import Any, Callable

from flask import Blueprint, Response, request

from tests.sandbox.core import StoredResponse, World
from tests.sandbox.stripe import params as P
from tests.sandbox.stripe.errors import StripeError
from tests.sandbox.stripe.ledger import Ledger
from tests.sandbox.stripe.state import StripeState

log = logging.getLogger(__name__)

PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
PAYMENT_BEHAVIORS = ("allow_incomplete",)
INTERVALS = ("day", "week", "month", "year")


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json", headers=headers)


def _supported(params: dict, names: set[str], prefix: str = "") -> None:
    """Names Stripe knows but the sandbox does not model are refused, not ignored."""
    for key in params:
        if key not in names:
            where = f"{prefix}[{key}]" if prefix else key
            raise StripeError(400, "invalid_request_error",
                              f"The sandbox does not implement parameter: {where}", code="parameter_unsupported",
                              param=where, stored=False)


def _paginate(objects: list[dict], params: dict, url: str, render: Callable[[dict], dict]) -> dict:
    """``objects`` newest first; Stripe's cursor pagination."""
    limit = P.as_int(params, "limit", minimum=1)
    limit = 10 if limit is None else limit
    if limit > 100:
        raise StripeError.invalid("Invalid limit: must be between 1 and 100", param="limit")
    ids = [o["id"] for o in objects]
    if params.get("starting_after"):
        if params["starting_after"] not in ids:
            raise StripeError.no_such("object", params["starting_after"], "starting_after")
        objects = objects[ids.index(params["starting_after"]) + 1:]
    elif params.get("ending_before"):
        if params["ending_before"] not in ids:
            raise StripeError.no_such("object", params["ending_before"], "ending_before")
        objects = objects[:ids.index(params["ending_before"])][-limit:]
    page = objects[:limit]
    return {"object": "list", "data": [render(o) for o in page], "has_more": len(objects) > limit, "url": url}


def _expand(ledger: Ledger, body: dict, paths: list[str]) -> dict:
    for path in paths:
        _expand_path(ledger, body, path.split("."))
    return body


def _expand_path(ledger: Ledger, node: Any, parts: list[str]) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "data" and isinstance(node.get("data"), list):
        for child in node["data"]:
            _expand_path(ledger, child, rest)
        return
    value = node.get(head)
    if isinstance(value, str):
        target = ledger.lookup(value)
        if target is None:
            raise StripeError.invalid(f"This property cannot be expanded ({head}).", param="expand")
        node[head] = ledger.render(target)
        value = node[head]
    elif value is None and head not in node:
        raise StripeError.invalid(f"This property cannot be expanded ({head}).", param="expand")
    _expand_path(ledger, value, rest)


def _created_filter(value: Any, where: str) -> Callable[[int], bool]:
    if value is None:
        return lambda _ts: True
    if not isinstance(value, dict):
        exact = P.as_int({"v": value}, "v", where=where)
        return lambda ts: ts == exact
    _supported(value, {"gt", "gte", "lt", "lte"}, where)
    bounds = {k: P.as_int(value, k, where=f"{where}[{k}]") for k in value}
    ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    return lambda ts: all(ops[k](ts, b) for k, b in bounds.items())


def _default_payment_method(p: dict) -> str | None:
    settings = p.get("invoice_settings")
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise StripeError.invalid("Invalid object", param="invoice_settings")
    _supported(settings, {"default_payment_method"}, "invoice_settings")
    return settings.get("default_payment_method")


def create_blueprint(world: World, state: StripeState) -> Blueprint:
    bp = Blueprint("stripe_v1", __name__)

    @bp.before_request
    def gate():
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_test_"):
            return StripeError(401, "invalid_request_error",
                               "Invalid API Key provided; the sandbox accepts test keys (sk_test_...).",
                               stored=False).response()
        failure = world.faults.maybe_fail("stripe")
        if failure is not None:
            return failure
        if not state.request_limiter.allow("global"):
            return StripeError.rate_limited("global-rate").response()
        return None

    def _run(params_name: str, supported: set[str], action: Callable[[Ledger, dict], Any], *,
             lock: Callable[[Ledger], str | None] | None = None) -> Response:
        pairs = list((request.form if request.method == "POST" else request.args).items(multi=True))
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        request_id = f"req_sbx{time.monotonic_ns()}"
        fingerprint = world.idempotency.fingerprint(request.method, request.path, sorted(pairs))
        if key:
            stored = world.idempotency.get("stripe", key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return StripeError(400, "idempotency_error",
                                       "Keys for idempotent requests can only be used with the same parameters "
                                       f"they were first used with. Try using a key other than '{key}' if you "
                                       "meant to execute a different request.", stored=False).response()
                return Response(stored.body, stored.status, mimetype="application/json",
                                headers=stored.headers | {"Idempotent-Replayed": "true", "Request-Id": request_id})
            with world.lock:
                if key in state.in_flight_keys:
                    return StripeError(409, "idempotency_error",
                                       "There is currently another in-progress request using this Stripe token "
                                       "(probably the same request).", code="idempotency_key_in_use",
                                       stored=False).response()
                state.in_flight_keys.add(key)
        try:
            response, keep = _execute(params_name, supported, action, lock, pairs, key, request_id)
            # Stored before the key leaves the in-flight set, so a concurrent retry
            # sees either "in flight" or the stored answer, never a gap to re-execute in.
            if key and keep:
                world.idempotency.put("stripe", key, StoredResponse(fingerprint, response.status_code,
                                                                    response.get_data(), {}))
        finally:
            if key:
                with world.lock:
                    state.in_flight_keys.discard(key)
        response.headers["Request-Id"] = request_id
        return response

    def _execute(params_name, supported, action, lock, pairs, key, request_id) -> tuple[Response, bool]:
        held: str | None = None
        try:
            raw = P.decode_form(pairs)
            params = P.validate(raw, params_name)
            _supported(params, supported)
            expand = params.get("expand") or []
            if lock is not None:
                with world.lock:
                    object_id = lock(state.ledger)
                if object_id is not None:
                    if not world.object_locks.acquire(object_id):
                        raise StripeError.lock_timeout()
                    held = object_id
                    if state.limits.write_delay_seconds:
                        time.sleep(state.limits.write_delay_seconds)
                    state.wait_at_gate()
            with world.lock:
                ledger = state.ledger
                ledger.request = {"id": request_id, "idempotency_key": key}
                mark = len(ledger.events)
                try:
                    result = action(ledger, params)
                    body = _expand(ledger, result, expand) if isinstance(result, dict) else result
                finally:
                    ledger.request = {"id": None, "idempotency_key": None}
                    # Queued under the world lock, so webhooks leave in the order the
                    # changes happened (before any injected disorder).
                    for event in ledger.events[mark:]:
                        world.webhooks.emit("stripe", event)
            return _json(body), True
        except StripeError as exc:
            return exc.response(), exc.stored
        except Exception:  # a sandbox bug must still answer in Stripe's shape, never a stack trace
            log.error("stripe sandbox error\n%s", traceback.format_exc())
            return StripeError(500, "api_error", "An unknown error occurred in the sandbox.").response(), True
        finally:
            if held is not None:
                world.object_locks.release(held)

    # ------------------------------------------------------------ customers

    @bp.post("/customers")
    def create_customer():
        def act(ledger: Ledger, p: dict):
            return ledger.render(ledger.create_customer(
                email=p.get("email"), name=p.get("name"), description=p.get("description"),
                metadata=P.as_metadata(p), test_clock=p.get("test_clock"),
                payment_method=_default_payment_method(p) or p.get("payment_method"),
                balance=P.as_int(p, "balance") or 0))
        return _run("CustomerCreateParams", {"email", "name", "description", "metadata", "test_clock",
                                             "payment_method", "invoice_settings", "balance", "expand"}, act)

    @bp.get("/customers/<cid>")
    def retrieve_customer(cid):
        return _run("CustomerRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.customers, "customer", cid)))

    @bp.post("/customers/<cid>")
    def update_customer(cid):
        def act(ledger: Ledger, p: dict):
            customer = ledger.get(ledger.customers, "customer", cid)
            return ledger.render(ledger.update_customer(
                customer, email=p.get("email"), name=p.get("name"), description=p.get("description"),
                metadata=P.as_metadata(p), payment_method=_default_payment_method(p)))
        return _run("CustomerUpdateParams", {"email", "name", "description", "metadata", "invoice_settings",
                                             "expand"}, act)

    @bp.post("/customers/<cid>/balance_transactions")
    def create_balance_transaction(cid):
        def act(ledger: Ledger, p: dict):
            customer = ledger.get(ledger.customers, "customer", cid)
            amount = P.as_int(p, "amount")
            if amount is None:
                raise StripeError.missing("amount")
            if p.get("currency") is None:
                raise StripeError.missing("currency")
            if p["currency"] != customer["currency"]:
                raise StripeError.invalid("The currency must match the customer's currency.", param="currency")
            txn = ledger.add_balance_transaction(customer, amount, "adjustment", description=p.get("description"))
            txn["metadata"] = P.as_metadata(p) or {}
            return ledger.render(txn)
        return _run("CustomerBalanceTransactionCreateParams", {"amount", "currency", "description", "metadata",
                                                               "expand"}, act)

    @bp.get("/customers/<cid>/balance_transactions")
    def list_balance_transactions(cid):
        def act(ledger: Ledger, p: dict):
            ledger.get(ledger.customers, "customer", cid)
            txns = [t for t in reversed(list(ledger.balance_transactions.values())) if t["customer"] == cid]
            return _paginate(txns, p, f"/v1/customers/{cid}/balance_transactions", ledger.render)
        return _run("CustomerBalanceTransactionListParams", {"limit", "starting_after", "ending_before", "expand"},
                    act)

    # ------------------------------------------------------ products, prices

    @bp.post("/products")
    def create_product():
        def act(ledger: Ledger, p: dict):
            if not p.get("name"):
                raise StripeError.missing("name")
            return ledger.render(ledger.create_product(name=p["name"], product_id=p.get("id"),
                                                       description=p.get("description"),
                                                       metadata=P.as_metadata(p),
                                                       active=P.as_bool(p, "active") is not False))
        return _run("ProductCreateParams", {"id", "name", "description", "metadata", "active", "expand"}, act)

    @bp.get("/products/<pid>")
    def retrieve_product(pid):
        return _run("ProductRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.products, "product", pid)))

    @bp.post("/prices")
    def create_price():
        def act(ledger: Ledger, p: dict):
            for name in ("product", "currency", "unit_amount", "recurring"):
                if p.get(name) in (None, ""):
                    raise StripeError.missing(name)
            recurring = p["recurring"]
            if not isinstance(recurring, dict):
                raise StripeError.invalid("Invalid object", param="recurring")
            _supported(recurring, {"interval", "interval_count"}, "recurring")
            if recurring.get("interval") is None:
                raise StripeError.missing("recurring[interval]")
            interval = P.as_choice(recurring, "interval", INTERVALS, where="recurring[interval]")
            count = P.as_int(recurring, "interval_count", where="recurring[interval_count]", minimum=1) or 1
            return ledger.render(ledger.create_price(
                product=p["product"], unit_amount=P.as_int(p, "unit_amount", minimum=0),
                currency=p["currency"].lower(), interval=interval, interval_count=count,
                nickname=p.get("nickname"), lookup_key=p.get("lookup_key"), metadata=P.as_metadata(p)))
        return _run("PriceCreateParams", {"product", "currency", "unit_amount", "recurring", "nickname",
                                          "lookup_key", "metadata", "expand"}, act)

    @bp.get("/prices/<pid>")
    def retrieve_price(pid):
        return _run("PriceRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.prices, "price", pid)))

    # --------------------------------------------------------- subscriptions

    def _proration_behavior(p: dict) -> str:
        return P.as_choice(p, "proration_behavior", PRORATION_BEHAVIORS) or "create_prorations"

    def _item_changes(raw_items: list, param: str = "items") -> list[dict]:
        changes = []
        for i, raw in enumerate(raw_items):
            where = f"{param}[{i}]"
            if not isinstance(raw, dict):
                raise StripeError.invalid("Invalid object", param=where)
            _supported(raw, {"id", "price", "quantity", "deleted", "metadata"}, where)
            changes.append({"param": where, "id": raw.get("id"), "price": raw.get("price"),
                            "quantity": P.as_int(raw, "quantity", where=f"{where}[quantity]", minimum=0),
                            "deleted": P.as_bool(raw, "deleted", where=f"{where}[deleted]"),
                            "metadata": P.as_metadata(raw)})
        return changes

    def _check_quantity_limit(sub_id: str, changes: list[dict]) -> None:
        # 200 quantity updates per hour per subscription (reference §6, RL-JA).
        if any(c.get("quantity") is not None for c in changes) and not state.quantity_limiter.allow(sub_id):
            raise StripeError.rate_limited("resource-specific")

    @bp.post("/subscriptions")
    def create_subscription():
        def act(ledger: Ledger, p: dict):
            if not p.get("customer"):
                raise StripeError.missing("customer")
            customer = ledger.get(ledger.customers, "customer", p["customer"], "customer")
            P.as_choice(p, "payment_behavior", PAYMENT_BEHAVIORS)
            items = []
            for change in _item_changes(p.get("items") or []):
                if change["id"] is not None or change["deleted"] is not None:
                    raise StripeError.invalid("Only price and quantity can be set on new items.", param=change["param"])
                if not change["price"]:
                    raise StripeError.missing(f"{change['param']}[price]")
                items.append({"price": change["price"], "metadata": change["metadata"],
                              "quantity": 1 if change["quantity"] is None else change["quantity"]})
            return ledger.render(ledger.create_subscription(customer, items, P.as_metadata(p)))
        return _run("SubscriptionCreateParams", {"customer", "items", "metadata", "payment_behavior", "expand"}, act)

    @bp.get("/subscriptions/<sid>")
    def retrieve_subscription(sid):
        return _run("SubscriptionRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.subscriptions, "subscription", sid)))

    @bp.get("/subscriptions")
    def list_subscriptions():
        def act(ledger: Ledger, p: dict):
            subs = [s for s in reversed(list(ledger.subscriptions.values()))
                    if p.get("customer") in (None, s["customer"]) and p.get("test_clock") in (None, s["test_clock"])
                    and (p.get("status") in (None, "all") or p.get("status") == s["status"])]
            return _paginate(subs, p, "/v1/subscriptions", ledger.render)
        return _run("SubscriptionListParams", {"customer", "test_clock", "status", "limit", "starting_after",
                                               "ending_before", "expand"}, act)

    @bp.post("/subscriptions/<sid>")
    def update_subscription(sid):
        def act(ledger: Ledger, p: dict):
            sub = ledger.get(ledger.subscriptions, "subscription", sid)
            changes = _item_changes(p.get("items") or [])
            P.as_choice(p, "payment_behavior", PAYMENT_BEHAVIORS)
            _check_quantity_limit(sid, changes)
            return ledger.render(ledger.change_items(
                sub, changes, proration_behavior=_proration_behavior(p),
                proration_date=P.as_int(p, "proration_date"), metadata=P.as_metadata(p)))
        return _run("SubscriptionUpdateParams", {"items", "proration_behavior", "proration_date", "metadata",
                                                 "payment_behavior", "expand"}, act, lock=lambda ledger: sid)

    @bp.get("/subscription_items/<si>")
    def retrieve_subscription_item(si):
        return _run("SubscriptionItemRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.items, "subscription item", si)))

    @bp.post("/subscription_items/<si>")
    def update_subscription_item(si):
        def act(ledger: Ledger, p: dict):
            item = ledger.get(ledger.items, "subscription item", si)
            if item.get("deleted"):
                raise StripeError.no_such("subscription item", si)
            sub = ledger.subscriptions[item["subscription"]]
            change = {"param": "items[0]", "id": si, "price": p.get("price"),
                      "quantity": P.as_int(p, "quantity", minimum=0), "deleted": None,
                      "metadata": P.as_metadata(p)}
            P.as_choice(p, "payment_behavior", PAYMENT_BEHAVIORS)
            _check_quantity_limit(sub["id"], [change])
            try:
                ledger.change_items(sub, [change], proration_behavior=_proration_behavior(p),
                                    proration_date=P.as_int(p, "proration_date"), metadata=None)
            except StripeError as exc:
                # Errors name this endpoint's params, not the internal items[0][...] form.
                if exc.param and exc.param.startswith("items[0]["):
                    exc.param = exc.param[len("items[0]["):-1]
                raise
            return ledger.render(item)

        def owner(ledger: Ledger) -> str | None:
            item = ledger.items.get(si)
            return item["subscription"] if item else None
        return _run("SubscriptionItemUpdateParams", {"price", "quantity", "proration_behavior", "proration_date",
                                                     "metadata", "payment_behavior", "expand"}, act, lock=owner)

    # ---------------------------------------------------------- invoice items

    @bp.get("/invoiceitems")
    def list_invoice_items():
        def act(ledger: Ledger, p: dict):
            pending = P.as_bool(p, "pending")
            items = [ii for ii in reversed(list(ledger.invoiceitems.values()))
                     if p.get("customer") in (None, ii["customer"]) and p.get("invoice") in (None, ii["invoice"])
                     and (pending is None or (ii["invoice"] is None) == pending)]
            return _paginate(items, p, "/v1/invoiceitems", ledger.render)
        return _run("InvoiceItemListParams", {"customer", "pending", "invoice", "limit", "starting_after",
                                              "ending_before", "expand"}, act)

    @bp.get("/invoiceitems/<ii>")
    def retrieve_invoice_item(ii):
        return _run("InvoiceItemRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.invoiceitems, "invoiceitem", ii)))

    # --------------------------------------------------------------- invoices

    @bp.post("/invoices")
    def create_invoice():
        def act(ledger: Ledger, p: dict):
            if not p.get("customer"):
                raise StripeError.missing("customer")
            customer = ledger.get(ledger.customers, "customer", p["customer"], "customer")
            sub = ledger.get(ledger.subscriptions, "subscription", p["subscription"], "subscription") \
                if p.get("subscription") else None
            behavior = P.as_choice(p, "pending_invoice_items_behavior", ("include", "exclude")) or "exclude"
            return ledger.render(ledger.create_invoice(
                customer, subscription=sub, pending_behavior=behavior, auto_advance=P.as_bool(p, "auto_advance"),
                description=p.get("description"), metadata=P.as_metadata(p)))
        return _run("InvoiceCreateParams", {"customer", "subscription", "pending_invoice_items_behavior",
                                            "auto_advance", "description", "metadata", "expand"}, act)

    @bp.post("/invoices/<iid>/finalize")
    def finalize_invoice(iid):
        def act(ledger: Ledger, p: dict):
            invoice = ledger.get(ledger.invoices, "invoice", iid)
            auto_advance = P.as_bool(p, "auto_advance")
            if auto_advance is not None:
                invoice["auto_advance"] = auto_advance
            return ledger.render(ledger.finalize_invoice(invoice))
        return _run("InvoiceFinalizeInvoiceParams", {"auto_advance", "expand"}, act)

    @bp.post("/invoices/<iid>/pay")
    def pay_invoice(iid):
        def act(ledger: Ledger, p: dict):
            invoice = ledger.get(ledger.invoices, "invoice", iid)
            if invoice["status"] == "paid":
                raise StripeError.state("Invoice is already paid", param="invoice")
            if not ledger.attempt_payment(invoice):
                raise StripeError(402, "card_error", "Your card was declined.", code="card_declined",
                                  extra={"decline_code": "generic_decline"})
            return ledger.render(invoice)
        return _run("InvoicePayParams", {"expand"}, act)

    @bp.get("/invoices/<iid>")
    def retrieve_invoice(iid):
        return _run("InvoiceRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.invoices, "invoice", iid)))

    @bp.get("/invoices")
    def list_invoices():
        def act(ledger: Ledger, p: dict):
            def owner(inv):
                return inv["parent"]["subscription_details"]["subscription"] if inv["parent"] else None
            created = _created_filter(p.get("created"), "created")
            invoices = [inv for inv in reversed(list(ledger.invoices.values()))
                        if p.get("customer") in (None, inv["customer"]) and p.get("status") in (None, inv["status"])
                        and p.get("subscription") in (None, owner(inv)) and created(inv["created"])]
            return _paginate(invoices, p, "/v1/invoices", ledger.render)
        return _run("InvoiceListParams", {"customer", "subscription", "status", "created", "limit", "starting_after",
                                          "ending_before", "expand"}, act)

    @bp.post("/invoices/create_preview")
    def create_preview():
        def act(ledger: Ledger, p: dict):
            if not p.get("subscription"):
                raise StripeError.missing("subscription")
            sub = ledger.get(ledger.subscriptions, "subscription", p["subscription"], "subscription")
            if p.get("customer") and p["customer"] != sub["customer"]:
                raise StripeError.invalid("The subscription does not belong to this customer.", param="customer")
            details = p.get("subscription_details") or {}
            if not isinstance(details, dict):
                raise StripeError.invalid("Invalid object", param="subscription_details")
            _supported(details, {"items", "proration_behavior", "proration_date"}, "subscription_details")
            behavior = P.as_choice(details, "proration_behavior", PRORATION_BEHAVIORS,
                                   where="subscription_details[proration_behavior]") or "create_prorations"
            proration_date = P.as_int(details, "proration_date", where="subscription_details[proration_date]")
            changes = _item_changes(details.get("items") or [], "subscription_details[items]")
            if proration_date is not None and not changes:
                raise StripeError.invalid("When proration_date is set, subscription_details[items] is required.",
                                          param="subscription_details[proration_date]")
            if proration_date is not None and behavior == "none":
                raise StripeError.invalid("proration_date cannot be set when proration_behavior is none.",
                                          param="subscription_details[proration_behavior]")
            return ledger.preview(ledger.customers[sub["customer"]], sub, changes=changes,
                                  proration_behavior=behavior, proration_date=proration_date)
        return _run("InvoiceCreatePreviewParams", {"customer", "subscription", "subscription_details", "expand"}, act)

    # ------------------------------------------------------------------ events

    def _event(event: dict) -> dict:
        return dict(event, pending_webhooks=world.webhooks.pending_count(event["id"]))

    @bp.get("/events/<eid>")
    def retrieve_event(eid):
        def act(ledger: Ledger, p: dict):
            for event in ledger.events:
                if event["id"] == eid:
                    return _event(event)
            raise StripeError.no_such("event", eid)
        return _run("EventRetrieveParams", {"expand"}, act)

    @bp.get("/events")
    def list_events():
        def act(ledger: Ledger, p: dict):
            created = _created_filter(p.get("created"), "created")
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
                      and (success is None or (world.webhooks.pending_count(e["id"]) == 0) == success)]
            return _paginate(events, p, "/v1/events", _event)
        return _run("EventListParams", {"created", "type", "types", "delivery_success", "limit", "starting_after",
                                        "ending_before", "expand"}, act)

    # ------------------------------------------------------------- test clocks

    @bp.post("/test_helpers/test_clocks")
    def create_clock():
        def act(ledger: Ledger, p: dict):
            frozen = P.as_int(p, "frozen_time", minimum=0)
            if frozen is None:
                raise StripeError.missing("frozen_time")
            return ledger.render(ledger.create_clock(frozen, p.get("name")))
        return _run("TestClockCreateParams", {"frozen_time", "name", "expand"}, act)

    @bp.get("/test_helpers/test_clocks/<cid>")
    def retrieve_clock(cid):
        return _run("TestClockRetrieveParams", {"expand"},
                    lambda ledger, p: ledger.render(ledger.get(ledger.clocks, "test clock", cid)))

    @bp.post("/test_helpers/test_clocks/<cid>/advance")
    def advance_clock(cid):
        def act(ledger: Ledger, p: dict):
            clock = ledger.get(ledger.clocks, "test clock", cid)
            frozen = P.as_int(p, "frozen_time")
            if frozen is None:
                raise StripeError.missing("frozen_time")
            return ledger.render(ledger.advance_clock(clock, frozen))
        return _run("TestClockAdvanceParams", {"frozen_time", "expand"}, act)

    return bp
