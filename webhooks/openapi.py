"""``GET /openapi.json``: the API contract, kept in the repository as ``webhooks/openapi.json`` (OpenAPI 3.1:
every route, the seat events' JSON Schema, the problem bodies and the notifications seatsync sends).

tests/webhooks/test_openapi.py checks it against the app's routes and intake; schemathesis runs it against
``seatsync serve``. Edit the JSON when a route or a body changes."""

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
