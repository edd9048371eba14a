"""Shapes: the fields seatsync reads from a provider's webhook objects, with their types, checked at
receipt. A wrong shape is refused (400) before anything is stored, so the worker never retries an event
it can never apply (a Stripe ``customer`` that is an object without an id, a quantity that is a string).

A shape is a dict of field → type; every field may be absent or null unless its name starts with
``!``. Types: the scalar checks below, a nested dict (an object), or a one-item list (an array of it).
Each provider's shapes live in ``providers/<name>/shapes.py``; this module only walks them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], str | None]  # the reason a value is wrong, or None
MAX_ERRORS = 20

_DECIMAL = re.compile(r"^-?\d{1,30}(\.\d{1,30})?$")


def STR(value: Any) -> str | None:  # noqa: N802 - reads as a type in the shape tables
    return None if isinstance(value, str) else "must be a string"


def INT(value: Any) -> str | None:  # noqa: N802
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    return None if -(2 ** 63) <= value < 2 ** 63 else "is out of range"


def BOOL(value: Any) -> str | None:  # noqa: N802
    return None if isinstance(value, bool) else "must be true or false"


def ID(value: Any) -> str | None:  # noqa: N802
    """An expandable reference: an id string, or the expanded object with its string ``id``."""
    if isinstance(value, str):
        return None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return None
    return "must be an id string or an object with a string id"


def DECIMAL(value: Any) -> str | None:  # noqa: N802
    """A money amount as a decimal string or an integer; never a float (money is exact)."""
    if isinstance(value, str) and _DECIMAL.match(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return "must be a decimal string such as \"1000\" or \"333.33\" (or an integer)"


def METADATA(value: Any) -> str | None:  # noqa: N802
    """Metadata: an object (Chargebee also sends ``meta_data`` as a JSON string)."""
    return None if isinstance(value, (dict, str)) else "must be an object"


def either(check: Check, shape: dict) -> Check:
    """A field that is either ``check`` (an id string) or an object of ``shape`` (expanded)."""

    def run(value: Any) -> str | None:
        if isinstance(value, dict):
            errors: list[dict] = []
            walk(value, shape, "", errors)
            return "; ".join(f"{e['field'].lstrip('/')}: {e['reason']}" for e in errors) or None
        return check(value)

    return run


def walk(value: Any, shape: Any, pointer: str, errors: list[dict]) -> None:
    """Append ``{"field", "reason"}`` for every way ``value`` differs from ``shape``."""
    if value is None or len(errors) >= MAX_ERRORS:
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            errors.append({"field": pointer or "/", "reason": "must be an object"})
            return
        for key, inner in shape.items():
            name = key.lstrip("!")
            if value.get(name) is None:
                if key.startswith("!"):
                    errors.append({"field": f"{pointer}/{name}", "reason": "is required"})
                continue
            walk(value[name], inner, f"{pointer}/{name}", errors)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            errors.append({"field": pointer or "/", "reason": "must be an array"})
            return
        for index, item in enumerate(value):
            if item is None:  # a field may be null; an element of an array seatsync walks may not
                errors.append({"field": f"{pointer}/{index}", "reason": "must not be null"})
            else:
                walk(item, shape[0], f"{pointer}/{index}", errors)
    else:
        reason = shape(value)
        if reason:
            errors.append({"field": pointer or "/", "reason": reason})
