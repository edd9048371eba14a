"""The request pipeline of the ``/api/v2`` endpoints, shared by every route module.

Every request: injected faults first, then Basic auth (API key as user name,
empty password), then the site's rate limit (429 ``api_request_limit_exceeded``).
Writes run under ``world.lock`` in a transaction that is rolled back if the
request is rejected, so a 4xx leaves nothing behind. POST writes honour
``chargebee-idempotency-key`` (estimates do not: reference §4). Handlers find
the world and the site through the app (``current_world()``).
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
from typing import Callable

from flask import Response, request

from .. import params as p
from ..declared import check as check_declared
from ..errors import ChargebeeError, lock_timeout, rate_limited, wrong_value
from ..ops.events import publish
from ..ops.render import render_customer, render_subscription
from ..ops.subscriptions import Outcome
from ..state import ChargebeeState, public
from ...core import current_world

IDEMPOTENCY_HEADER = "chargebee-idempotency-key"
REPLAYED_HEADER = "chargebee-idempotency-replayed"
IDEMPOTENCY_WINDOW_MS = 30 * 60 * 1000  # reference §6: 30 minutes


def current_state() -> ChargebeeState:
    return current_world().chargebee


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


def params_of_request() -> dict:
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


def listing(objects: list[dict], key: str, params: dict, render: Callable[[dict], dict] = public,
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


def candidates(params: dict, table, indexes: dict) -> list[dict]:
    """The objects a filtered list has to look at: an index bucket when a filter is a plain
    ``name[is]=value`` on an indexed field (every filter is still applied), else the whole table;
    in creation order either way."""
    for name, index in indexes.items():
        wanted = params.get(name)
        if isinstance(wanted, dict) and list(wanted) == ["is"] and isinstance(wanted["is"], str):
            return index.objects(wanted["is"])
    return list(table.values())


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


def match_string(params: dict, name: str, value: str | None) -> bool:
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


def match_time(params: dict, name: str, value: int) -> bool:
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


def sorted_by(objects: list[dict], params: dict, field: str) -> list[dict]:
    """Newest first unless ``sort_by[asc]=<field>`` (default order: sandbox choice, unverified)."""
    sort = params.get("sort_by")
    ascending = False
    if sort is not None:
        if not isinstance(sort, dict) or len(sort) != 1 or list(sort.values())[0] != field:
            raise wrong_value("sort_by", f"sort_by : only sort_by[asc] or sort_by[desc] = {field} is supported")
        ascending = "asc" in sort
    return sorted(objects, key=lambda o: (o[field], o.get("resource_version", 0)), reverse=not ascending)


def with_delivery_status(world, event: dict) -> dict:
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


def gatekeeping():
    """``before_request`` of ``/api/v2``: injected faults, Basic auth, the site's rate limit."""
    world, state = current_world(), current_state()
    failure = world.faults.maybe_fail("chargebee")
    if failure is not None:
        return failure
    if not _authenticated(state):
        return ChargebeeError(401, "api_authentication_failed",
                              "Sorry, authentication failed. Invalid api key").response()
    if not state.limiter.allow("site"):
        return rate_limited().response()
    return None


def write(operation: Callable[[dict], tuple[dict, int]], *, declared: str | None, lock_key: str | None = None,
          idempotent: bool = True, dry_run: bool = False) -> Response:
    """Run a state-changing operation: declared parameters only (``declared`` names chargebee-python's
    params TypedDict, see ``tests.sandbox.chargebee.declared``), idempotency, object lock, all-or-nothing
    (``state.begin``/``rollback``/``commit``; only what the request reached is saved). ``dry_run``
    (estimates) undoes everything the operation did once it has answered."""
    world, state = current_world(), current_state()
    form = list(request.form.items(multi=True))
    params = p.decode(form)
    check_declared(params, declared)
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
                    return json_response(stored["body"], stored["status"], {REPLAYED_HEADER: "true"})
            state.begin()
            try:
                body, status = operation(params)
            except BaseException:
                state.rollback()
                raise
            if dry_run:
                state.rollback()
                return json_response(body, status)
            publish(state, world)
            state.commit()
            if key is not None and 200 <= status < 300:
                state.idempotency[key] = {"fingerprint": fingerprint, "status": status, "body": body,
                                          "at": state.now_ms}
            return json_response(body, status)
    finally:
        if lock_key is not None:
            world.object_locks.release(lock_key)


def read(operation: Callable[[dict], dict], *, declared: str | None) -> Response:
    """Answer a read; only the parameters chargebee-python declares for it (``declared``) are accepted."""
    params = params_of_request()
    check_declared(params, declared)
    state = current_state()
    with current_world().lock:
        try:
            return json_response(operation(params))
        finally:
            state.journal.end()  # what this read reached is not re-filed by the next request's lookups


def subscription_body(sub: dict, outcome: Outcome | None = None, *, refresh: bool = True) -> dict:
    """The ``{subscription, customer, invoice?, unbilled_charges?, credit_notes?}`` answer of a subscription call."""
    state = current_state()
    body = {"subscription": render_subscription(state, sub),
            "customer": render_customer(state, state.customers[sub["customer_id"]], refresh=refresh)}
    if outcome is not None:
        if outcome.invoice is not None:
            body["invoice"] = public(outcome.invoice)
        if outcome.unbilled_charges:
            body["unbilled_charges"] = public(outcome.unbilled_charges)
        if outcome.credit_notes:
            body["credit_notes"] = public(outcome.credit_notes)
    return body
