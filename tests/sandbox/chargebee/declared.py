"""Refusing parameters that chargebee-python does not declare for an operation.

Each endpoint names the params ``TypedDict`` chargebee-python 3 declares for
it (``"UnbilledCharge.ListParams"`` is
``chargebee.models.unbilled_charge.operations.UnbilledCharge.ListParams``), the
way the Stripe half names ``stripe.params.*Params``. ``check`` walks the decoded
form against it and refuses the first wire parameter it does not declare with
400 ``param_wrong_value`` naming that parameter, e.g. ``is_voided[is]`` where
``UnbilledCharge.ListParams`` declares ``is_voided`` a plain boolean. An
operation the SDK sends without params (``Subscription.retrieve``) is named
``None``: any parameter is refused.

The TypedDicts are read, never instantiated (chargebee-python does not check
them at runtime either; reference chargebee.md §7). The SDK lower-cases keys
before sending (``request.lowercase_keys``), so declared names are compared in
lower case. How a real site answers an undeclared parameter is not documented
in the reference: refusing it, and this wording, are the sandbox's choice
(UNVERIFIED); it beats silently ignoring a parameter the caller meant.
"""

from __future__ import annotations

import importlib
import re
import typing
from functools import lru_cache
from typing import Any, ForwardRef

from .errors import wrong_value

SCALAR, FREE = "scalar", "free"  # a single value; Dict[Any, Any] (meta_data: a JSON string or an object)


def _module_of(resource: str) -> Any:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower()  # ItemPrice -> item_price
    return importlib.import_module(f"chargebee.models.{snake}.operations")


def _resolve(ref: Any, module: Any) -> Any:
    """``ForwardRef('Subscription.UpdateForItemsSubscriptionItemParams')`` -> the class."""
    if isinstance(ref, (ForwardRef, str)):
        target: Any = module
        for part in (ref.__forward_arg__ if isinstance(ref, ForwardRef) else ref).split("."):
            target = getattr(target, part)
        return target
    return ref


def _node(annotation: Any, module: Any) -> Any:
    """("object", fields) | ("list", node) | SCALAR | FREE for one annotation."""
    while typing.get_origin(annotation) in (typing.Required, typing.NotRequired):
        annotation = typing.get_args(annotation)[0]
    annotation = _resolve(annotation, module)
    origin = typing.get_origin(annotation)
    if origin in (list, typing.List):
        return "list", _node(typing.get_args(annotation)[0], module)
    if origin in (dict, typing.Dict):
        return FREE
    if isinstance(annotation, type) and hasattr(annotation, "__total__"):  # a TypedDict
        return "object", _fields(annotation, _module_of_class(annotation, module))
    return SCALAR


def _module_of_class(cls: type, fallback: Any) -> Any:
    return importlib.import_module(cls.__module__) if cls.__module__ else fallback


def _fields(cls: type, module: Any) -> dict[str, Any]:
    return {name.lower(): _node(annotation, module) for name, annotation in cls.__annotations__.items()}


@lru_cache(maxsize=None)
def declared(operation: str | None) -> dict[str, Any]:
    """Wire name -> node for ``"Resource.ParamsName"``; ``{}`` for an operation without params."""
    if operation is None:
        return {}
    resource, params_name = operation.split(".")
    module = _module_of(resource)
    return _fields(getattr(getattr(module, resource), params_name), module)


def _refuse(wire: str):
    raise wrong_value(wire, f"{wire} : is not a parameter of this API call (chargebee-python does not declare it)")


def _check_value(wire: str, value: Any, node: Any) -> None:
    """``value`` as ``params.decode`` gives it: a string, ``{key: str}`` (an object, a filter or a
    list of scalars sent as ``name[i]``) or ``{index: {field: str}}`` (a list of objects)."""
    if node == FREE:
        return
    if node == SCALAR:
        if isinstance(value, dict):
            _refuse(f"{wire}[{next(iter(value))}]")
        return
    if not isinstance(value, dict):
        _refuse(wire)  # an object or a list sent as one value
    kind, inner = node
    for key, entry in value.items():
        if kind == "object":
            if key not in inner:  # e.g. an operator a filter does not have
                _refuse(f"{wire}[{key}]")
        elif isinstance(inner, tuple) and inner[0] == "object":
            for field in entry if isinstance(entry, dict) else [None]:
                if field not in inner[1]:
                    _refuse(f"{wire}[{field}][{key}]" if field else f"{wire}[{key}]")
        elif isinstance(entry, dict) or not str(key).isdigit():
            _refuse(f"{wire}[{key}]")


def check(params: dict, operation: str | None) -> None:
    """Refuse (400 ``param_wrong_value``) the first parameter ``operation`` does not declare."""
    fields = declared(operation)
    for name, value in params.items():
        if name not in fields:
            _refuse(name if not isinstance(value, dict) else f"{name}[{next(iter(value))}]")
        _check_value(name, value, fields[name])
