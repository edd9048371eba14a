"""Stripe's form encoding in, checked against stripe-python's own params TypedDicts.

stripe-python sends ``items[0][price]=p&metadata[k]=v&expand[]=x``; ``decode_form``
turns that into nested dicts/lists. ``validate`` walks the result against the
TypedDict that stripe-python 16 declares for the endpoint (``stripe.params.*``)
and refuses the first unknown name the way Stripe does (400
``parameter_unknown``, ``param`` naming it).

The TypedDicts are only read, never evaluated: their annotations contain forward
references that only resolve under TYPE_CHECKING, so nested structures are found
by looking the referenced class names up in the defining module.
"""

from __future__ import annotations

import re
import importlib
from functools import lru_cache
from typing import Any

import stripe.params as stripe_params
import stripe.params.test_helpers as stripe_test_helper_params
from stripe._request_options import RequestOptions

from .errors import StripeError

_KEY_PART = re.compile(r"\[([^\]]*)\]")
_NAME = re.compile(r"\b([A-Z][A-Za-z0-9_]*)\b")

# Params TypedDicts inherit the SDK's request options (api_key, idempotency_key…);
# those travel as headers, never as body parameters.
REQUEST_OPTION_NAMES = frozenset(RequestOptions.__annotations__)

FREE = "free"      # Dict[str, str]: any key allowed (metadata)
SCALAR = "scalar"


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """``a[b][0][c]=v`` → ``{"a": {"b": {"0": {"c": v}}}}``; ``a[]=v`` → list.

    Digit-keyed dicts stay dicts here; ``validate`` turns them into lists where
    the schema says the field is a list.
    """
    root: dict = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if isinstance(node, list):
                # ``a[]`` appends; only scalars are sent that way by stripe-python.
                node.append(value)
                break
            if last:
                node[part] = value
            else:
                default: Any = [] if nxt == "" else {}
                child = node.setdefault(part, default)
                if not isinstance(child, (dict, list)):
                    raise StripeError.invalid(f"Invalid value for {raw_key}.", param=raw_key)
                node = child
    return root


def _typed_dict_fields(cls: type) -> dict:
    return dict(getattr(cls, "__annotations__", {}))


def _node_for(annotation: Any, module: Any) -> Any:
    text = repr(annotation)
    names = [n for n in _NAME.findall(text) if isinstance(getattr(module, n, None), type)
             and hasattr(getattr(module, n), "__total__")]
    is_list = "List[" in text
    if names:
        node = ("dict", names[0], module.__name__)
    elif "Dict[" in text:
        node = FREE
    else:
        node = SCALAR
    return ("list", node) if is_list else node


@lru_cache(maxsize=None)
def schema(params_name: str, module_name: str | None = None) -> dict:
    """Field name → node for a stripe.params TypedDict (by class name)."""
    top_level = module_name is None
    if top_level:
        cls = getattr(stripe_params, params_name, None) or getattr(stripe_test_helper_params, params_name)
        module_name = cls.__module__
    module = importlib.import_module(module_name)
    cls = getattr(module, params_name)
    return {name: _node_for(ann, module) for name, ann in _typed_dict_fields(cls).items()
            if not (top_level and name in REQUEST_OPTION_NAMES)}


def _path(prefix: str, key: str) -> str:
    return key if not prefix else f"{prefix}[{key}]"


def _coerce(value: Any, node: Any, where: str) -> Any:
    if node == FREE or node == SCALAR:
        if node == SCALAR and isinstance(value, dict) and value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
        return value
    kind = node[0]
    if kind == "list":
        if isinstance(value, dict) and all(k.isdigit() for k in value):
            items = [value[k] for k in sorted(value, key=int)]
        elif isinstance(value, list):
            items = value
        elif value == "":
            return []
        else:
            raise StripeError.invalid(f"Invalid array for {where}.", param=where)
        return [_coerce(item, node[1], f"{where}[{i}]") for i, item in enumerate(items)]
    # nested TypedDict; several such fields are unions with a scalar
    # (``created=123`` or ``created[gt]=123``), and ``""`` unsets an object.
    if not isinstance(value, dict):
        return value
    return _walk(value, schema(node[1], node[2]), where)


def _walk(params: dict, fields: dict, prefix: str) -> dict:
    out = {}
    for key, value in params.items():
        where = _path(prefix, key)
        if key not in fields:
            raise StripeError.unknown_parameter(where)
        out[key] = _coerce(value, fields[key], where)
    return out


def validate(params: dict, params_name: str) -> dict:
    """Refuse unknown names; return params with lists made into lists."""
    return _walk(params, schema(params_name), "")


# ----------------------------------------------------------------- value readers


def as_int(params: dict, name: str, *, where: str | None = None, minimum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    where = where or name
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StripeError.invalid(f"Invalid integer: {value}", param=where) from None
    if minimum is not None and number < minimum:
        raise StripeError.invalid(f"Invalid {where}: must be at least {minimum}", param=where)
    return number


def as_bool(params: dict, name: str, *, where: str | None = None) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise StripeError.invalid(f"Invalid boolean: {value}", param=where or name)


def as_choice(params: dict, name: str, choices: tuple[str, ...], *, where: str | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in choices:
        where = where or name
        raise StripeError.invalid(
            f"Invalid {where}: must be one of {', '.join(choices)}", param=where)
    return value


def as_metadata(params: dict, name: str = "metadata") -> dict | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise StripeError.invalid("Invalid object", param=name)
    return {str(k): str(v) for k, v in value.items()}
