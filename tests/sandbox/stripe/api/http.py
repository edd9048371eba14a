"""The request pipeline of the ``/v1`` endpoints, shared by every route module.

``run`` does, in order: decode the form, check the params against
stripe-python's TypedDict for the endpoint, refuse names the sandbox does not
implement, replay or reject idempotency keys, take the per-object write lock
(429 ``lock_timeout`` when busy), apply the change under ``world.lock``, and
forward the events it produced to the webhook dispatcher. Handlers find the
world and the Stripe state through the app (``current_world()``).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any, Callable

from flask import Response, request

from ...core import StoredResponse, current_world
from .. import params as P
from ..errors import StripeError
from ..ops.objects import render
from ..state import Ledger, StripeState

log = logging.getLogger(__name__)


def current_state() -> StripeState:
    return current_world().stripe


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json", headers=headers)


def check_supported(params: dict, names: set[str], prefix: str = "") -> None:
    """Names Stripe knows but the sandbox does not model are refused, not ignored."""
    for key in params:
        if key not in names:
            where = f"{prefix}[{key}]" if prefix else key
            raise StripeError(400, "invalid_request_error",
                              f"The sandbox does not implement parameter: {where}", code="parameter_unsupported",
                              param=where, stored=False)


def paginate(objects: list[dict], params: dict, url: str, show: Callable[[dict], dict]) -> dict:
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
    return {"object": "list", "data": [show(o) for o in page], "has_more": len(objects) > limit, "url": url}


def newest_first(table, params: dict, indexes: dict) -> list[dict]:
    """The objects a list has to look at, newest first: the bucket of the first indexed filter
    given (``customer=cus_…``), else the whole table; every filter is still applied by the caller."""
    for name, index in indexes.items():
        if isinstance(params.get(name), str):
            return index.objects(params[name])[::-1]
    return table.values()[::-1]


def expand(ledger: Ledger, body: dict, paths: list[str]) -> dict:
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
        node[head] = render(ledger, target)
        value = node[head]
    elif value is None and head not in node:
        raise StripeError.invalid(f"This property cannot be expanded ({head}).", param="expand")
    _expand_path(ledger, value, rest)


def created_filter(value: Any, where: str) -> Callable[[int], bool]:
    if value is None:
        return lambda _ts: True
    if not isinstance(value, dict):
        exact = P.as_int({"v": value}, "v", where=where)
        return lambda ts: ts == exact
    check_supported(value, {"gt", "gte", "lt", "lte"}, where)
    bounds = {k: P.as_int(value, k, where=f"{where}[{k}]") for k in value}
    ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    return lambda ts: all(ops[k](ts, b) for k, b in bounds.items())


def gate():
    """``before_request`` of ``/v1``: test-mode key, injected faults, the global request limit."""
    world, state = current_world(), current_state()
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


def run(params_name: str, supported: set[str], action: Callable[[Ledger, dict], Any], *,
        lock: Callable[[Ledger], str | None] | None = None) -> Response:
    """Serve one request: decode, check params against ``params_name`` (stripe-python's TypedDict)
    and ``supported``, replay or refuse idempotency keys, take the write lock named by ``lock``,
    run ``action(ledger, params)`` under ``world.lock`` and forward the events it produced."""
    world, state = current_world(), current_state()
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
    world, state = current_world(), current_state()
    held: str | None = None
    try:
        raw = P.decode_form(pairs)
        params = P.validate(raw, params_name)
        check_supported(params, supported)
        expand_paths = params.get("expand") or []
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
                body = expand(ledger, result, expand_paths) if isinstance(result, dict) else result
            finally:
                ledger.request = {"id": None, "idempotency_key": None}
                ledger.journal.end()  # indexes up to date (core/tables.py)
                # Queued under the world lock, so webhooks leave in the order the
                # changes happened (before any injected disorder).
                for event in ledger.events[mark:]:
                    world.webhooks.emit("stripe", event)
        return json_response(body), True
    except StripeError as exc:
        return exc.response(), exc.stored
    except Exception:  # a sandbox bug must still answer in Stripe's shape, never a stack trace
        log.error("stripe sandbox error\n%s", traceback.format_exc())
        return StripeError(500, "api_error", "An unknown error occurred in the sandbox.").response(), True
    finally:
        if held is not None:
            world.object_locks.release(held)
