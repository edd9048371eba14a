"""Decoding Chargebee's form-encoded deepObject parameters.

chargebee-python sends ``subscription_items[item_price_id][0]=seat&subscription_items[quantity][0]=5``
for a list of objects, ``card[number]=...`` for an object, ``subscription_id[is]=...``
for list filters and ``coupon_ids[0]=...`` for a list of scalars (reference §2;
``chargebee/util.py`` ``serialize``). Booleans are ``true``/``false``.
Every accessor raises ``param_wrong_value`` naming the wire parameter.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import missing, wrong_value

_TOKEN = re.compile(r"\[([^\]]*)\]")


def decode(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Flat form pairs -> nested dicts; ``{name: {index: {field: value}}}`` for arrays."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        tokens = _TOKEN.findall(key[len(head):])
        if not tokens:
            out[head] = value
        elif len(tokens) == 1:
            out.setdefault(head, {})
            if not isinstance(out[head], dict):
                raise wrong_value(key, f"{key} cannot be combined with {head}")
            out[head][tokens[0]] = value
        else:
            field, index = tokens[0], tokens[1]
            if not index.isdigit():
                raise wrong_value(key, f"{key} is not a recognised parameter")
            out.setdefault(head, {})
            out[head].setdefault(int(index), {})
            if not isinstance(out[head][int(index)], dict):
                raise wrong_value(key, f"{key} cannot be combined with {head}[{index}]")
            out[head][int(index)][field] = value
    return out


def item_list(params: dict, name: str) -> list[tuple[int, dict]]:
    """``subscription_items`` style arrays as ``[(index, fields)]`` in index order."""
    raw = params.get(name)
    if raw is None:
        return []
    if not isinstance(raw, dict) or not all(isinstance(k, int) for k in raw):
        raise wrong_value(name, f"{name} must be sent as {name}[field][index]")
    return sorted(raw.items())


def boolean(params: dict, name: str, default: bool | None = None, *, wire: str | None = None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value in ("true", "false"):
        return value == "true"
    raise wrong_value(wire or name, f"{wire or name} : invalid boolean value, must be true or false")


def integer(params: dict, name: str, default: int | None = None, *, wire: str | None = None,
            minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = params.get(name)
    label = wire or name
    if value is None or value == "":
        return default
    if not re.fullmatch(r"-?\d+", str(value)):
        raise wrong_value(label, f"{label} : invalid integer value")
    number = int(value)
    if minimum is not None and number < minimum:
        raise wrong_value(label, f"{label} : cannot be less than {minimum}")
    if maximum is not None and number > maximum:
        raise wrong_value(label, f"{label} : cannot be more than {maximum}")
    return number


def string(params: dict, name: str, default: str | None = None, *, wire: str | None = None,
           max_length: int | None = None, choices: tuple[str, ...] | None = None) -> str | None:
    value = params.get(name)
    label = wire or name
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise wrong_value(label, f"{label} : must be a single value")
    if max_length is not None and len(value) > max_length:
        raise wrong_value(label, f"{label} : cannot be more than {max_length} characters")
    if choices is not None and value not in choices:
        raise wrong_value(label, f"{label} : invalid value, must be one of {', '.join(choices)}")
    return value


def required(value: Any, label: str) -> Any:
    """``value``, or Chargebee's missing-parameter error (``errors.missing``) naming ``label``."""
    if value is None:
        raise missing(label)
    return value


def json_object(params: dict, name: str) -> dict | None:
    """``meta_data`` travels as a JSON string (the SDK's ``jsonKeys``)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        raise wrong_value(name, f"{name} : invalid JSON") from None
    if not isinstance(decoded, dict):
        raise wrong_value(name, f"{name} : must be a JSON object")
    return decoded


def filter_value(params: dict, name: str, operators: tuple[str, ...]) -> tuple[str, str] | None:
    """List filters like ``subscription_id[is]=x`` -> ``("is", "x")``."""
    raw = params.get(name)
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) != 1:
        raise wrong_value(name, f"{name} : use one of {', '.join(f'{name}[{o}]' for o in operators)}")
    (operator, value), = raw.items()
    if operator not in operators:
        raise wrong_value(f"{name}[{operator}]", f"{name}[{operator}] : unsupported operator")
    return operator, value
