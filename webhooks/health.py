"""``/healthz`` is liveness (the process answers); ``/readyz`` is readiness: the database takes a write and,
when a sync worker runs against it, the worker's heartbeat is fresh. A load balancer routes by ``/readyz``."""

from __future__ import annotations

from flask import Blueprint, current_app

from adapter import store
from adapter.clock import now_us
from adapter.store.faults import StoreUnavailable
from adapter.store.health import HEARTBEAT_STALE_SECONDS, MIN_FREE_BYTES

from .db import get_db, store_fault_response
from .problems import Problem, problem_response

bp = Blueprint("health", __name__)


@bp.get("/readyz")
def readyz():
    now = now_us()
    try:
        db = get_db()
        store.probe_write(db, now)
        beat = store.freshest_heartbeat(db)
    except Exception as exc:  # noqa: BLE001 - every store failure is "not ready", named
        return store_fault_response(exc)
    free = store.free_bytes(current_app.config["SEATSYNC"].database)
    if free < MIN_FREE_BYTES:
        return store_fault_response(StoreUnavailable("full", f"{free} bytes free on the database's file system"))
    if beat is not None and now - beat > HEARTBEAT_STALE_SECONDS * 1_000_000:
        age = (now - beat) // 1_000_000
        problem = Problem(503, "Not ready", f"the sync worker's last heartbeat is {age} s old "
                                            f"(stale after {HEARTBEAT_STALE_SECONDS} s)",
                          errors=[{"field": "worker", "reason": f"heartbeat {age} s old"}], slug="worker-stale")
        return problem_response(problem, headers={"Retry-After": "5"})
    return {"status": "ready", "database": "writable",
            "worker": "none configured" if beat is None else "alive"}
