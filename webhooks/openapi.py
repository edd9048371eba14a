"""``GET /openapi.json``: the API contract, kept in the repository as ``webhooks/openapi.json`` (OpenAPI 3.1:
every route, the seat events' JSON Schema, the problem bodies and the notifications seatsync sends).

tests/webhooks/test_openapi.py checks it against the app's routes, intake and reconcile's report fields;
tests/webhooks/test_schemathesis.py (marked slow, run by CI's ``make test``) has schemathesis fuzz a real
``seatsync serve`` from the document it serves here: 25 positive and 25 negative examples per operation
(derandomized when ``CI`` is set), the receivers' bodies mostly signed so they reach validation, and no answer
may be a 5xx or break the document's statuses, media types, headers or body schemas. Edit the JSON when a route
or a body changes."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response

bp = Blueprint("openapi", __name__)


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The document, read once from the package (it ships in the wheel as package data)."""
    loaded: dict[str, Any] = json.loads(resources.files("webhooks").joinpath("openapi.json").read_text("utf-8"))
    return loaded


@bp.get("/openapi.json")
def openapi_json():
    return Response(json.dumps(document()), mimetype="application/json")
