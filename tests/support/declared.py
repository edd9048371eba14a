"""Checking recorded wire requests against the parameter types stripe-python and chargebee-python declare.

Independent of the sandbox's own checks: a request as it arrived (method, path, form pairs) is mapped to the
SDK's params TypedDict for that endpoint (``stripe.params.SubscriptionItemUpdateParams``,
``chargebee.models.unbilled_charge.operations.UnbilledCharge.ListParams``) and every parameter is checked:
declared name, value of the declared type (``Literal`` values, integers, booleans), and every ``Required``
field present. An endpoint missing from the tables below is itself a failure: a new call must be mapped.
"""

from __future__ import annotations

import enum
import importlib
import re
import typing
from dataclasses import dataclass
from typing import Any

STRIPE_ID = r"[A-Za-z0-9_]+"
# (method, path regex) → stripe.params class name.
STRIPE_ENDPOINTS: list[tuple[str, str, str]] = [
    ("GET", r"/v1/charges", "ChargeListParams"),
    ("GET", r"/v1/credit_notes", "CreditNoteListParams"),
    ("GET", rf"/v1/customers/{STRIPE_ID}", "CustomerRetrieveParams"),
    ("POST", r"/v1/customers", "CustomerCreateParams"),
    ("GET", r"/v1/events", "EventListParams"),
    ("GET", rf"/v1/events/{STRIPE_ID}", "EventRetrieveParams"),
    ("GET", r"/v1/invoiceitems", "InvoiceItemListParams"),
    ("GET", r"/v1/invoices", "InvoiceListParams"),
    ("GET", rf"/v1/invoices/{STRIPE_ID}", "InvoiceRetrieveParams"),
    ("GET", r"/v1/prices", "PriceListParams"),
    ("GET", rf"/v1/prices/{STRIPE_ID}", "PriceRetrieveParams"),
    ("POST", r"/v1/prices", "PriceCreateParams"),
    ("POST", r"/v1/products", "ProductCreateParams"),
    ("POST", rf"/v1/subscription_items/{STRIPE_ID}", "SubscriptionItemUpdateParams"),
    ("GET", r"/v1/subscriptions", "SubscriptionListParams"),
    ("POST", r"/v1/subscriptions", "SubscriptionCreateParams"),
    ("GET", rf"/v1/subscriptions/{STRIPE_ID}", "SubscriptionRetrieveParams"),
    ("POST", rf"/v1/subscriptions/{STRIPE_ID}", "SubscriptionUpdateParams"),
    ("POST", r"/v1/test_helpers/test_clocks", "TestClockCreateParams"),
    ("GET", rf"/v1/test_helpers/test_clocks/{STRIPE_ID}", "TestClockRetrieveParams"),
    ("POST", rf"/v1/test_helpers/test_clocks/{STRIPE_ID}/advance", "TestClockAdvanceParams"),
    ("GET", r"/v1/webhook_endpoints", "WebhookEndpointListParams"),
    ("POST", r"/v1/webhook_endpoints", "WebhookEndpointCreateParams"),
]

CB_ID = r"[A-Za-z0-9_.~-]+"
# (method, path regex) → "Resource.ParamsName" of chargebee.models.<resource>.operations; None: the SDK
# declares no params for the operation (a retrieve), so the request must carry none.
CHARGEBEE_ENDPOINTS: list[tuple[str, str, str | None]] = [
    ("GET", r"/api/v2/credit_notes", "CreditNote.ListParams"),
    ("GET", r"/api/v2/customers", "Customer.ListParams"),
    ("POST", r"/api/v2/customers", "Customer.CreateParams"),
    ("POST", rf"/api/v2/customers/{CB_ID}/subscription_for_items", "Subscription.CreateWithItemsParams"),
    ("GET", r"/api/v2/events", "Event.ListParams"),
    ("GET", rf"/api/v2/events/{CB_ID}", None),
    ("GET", r"/api/v2/invoices", "Invoice.ListParams"),
    ("GET", rf"/api/v2/invoices/{CB_ID}", None),
    ("GET", r"/api/v2/item_prices", "ItemPrice.ListParams"),
    ("GET", rf"/api/v2/item_prices/{CB_ID}", None),
    ("POST", r"/api/v2/item_prices", "ItemPrice.CreateParams"),
    ("POST", r"/api/v2/items", "Item.CreateParams"),
    ("GET", r"/api/v2/subscriptions", "Subscription.ListParams"),
    ("GET", rf"/api/v2/subscriptions/{CB_ID}", None),
    ("POST", rf"/api/v2/subscriptions/{CB_ID}/update_for_items", "Subscription.UpdateForItemsParams"),
    ("GET", rf"/api/v2/time_machines/{CB_ID}", None),
    ("POST", rf"/api/v2/time_machines/{CB_ID}/start_afresh", "TimeMachine.StartAfreshParams"),
    ("POST", rf"/api/v2/time_machines/{CB_ID}/travel_forward", "TimeMachine.TravelForwardParams"),
    ("GET", r"/api/v2/transactions", "Transaction.ListParams"),
    ("GET", r"/api/v2/unbilled_charges", "UnbilledCharge.ListParams"),
    ("GET", r"/api/v2/webhook_endpoints", "WebhookEndpoint.ListParams"),
]

# Travel as headers, never as parameters (stripe-python's RequestOptions).
STRIPE_REQUEST_OPTIONS = {"api_key", "idempotency_key", "stripe_account", "stripe_context", "stripe_version",
                          "headers", "api_mode"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: list[tuple[str, str]]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) in (typing.Required, typing.NotRequired):
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_typed_dict(annotation: Any) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "__required_keys__")


def _members(annotation: Any) -> list[Any]:
    annotation = _strip(annotation)
    if typing.get_origin(annotation) is typing.Union:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


class Declared:
    """Type hints of one SDK's TypedDicts, resolved in their defining module."""

    def __init__(self, localns: dict[str, Any] | None = None):
        self.localns = localns or {}

    def hints(self, cls: type) -> dict[str, Any]:
        module = importlib.import_module(cls.__module__)
        localns = dict(self.localns)
        while True:
            try:
                return typing.get_type_hints(cls, globalns=vars(module), localns=localns, include_extras=True)
            except NameError as exc:  # a name imported only under TYPE_CHECKING (StripeContext): not a param
                if exc.name is None or exc.name in localns:
                    raise
                localns[exc.name] = dict  # subscriptable; reads as a free-form value


def scalar_ok(value: str, annotation: Any) -> bool:
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if origin is typing.Literal:
            if value in {str(v).lower() if isinstance(v, bool) else str(v) for v in typing.get_args(member)}:
                return True
        elif member is str or member is Any:
            return True
        elif member is bool:
            if value in ("true", "false"):
                return True
        elif member is int:
            if re.fullmatch(r"-?\d+", value):
                return True
        elif member is float:
            if re.fullmatch(r"-?\d+(\.\d+)?", value):
                return True
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            if value in {str(e.value) for e in member}:
                return True
        elif origin is dict or (origin is None and isinstance(member, type)
                                                and member.__name__.startswith("Untyped")):
            # A free-form object sent as one value: chargebee-python sends meta_data as a JSON string.
            if value.startswith("{"):
                return True
    return False


def _check(parts: list[str], value: str, annotation: Any, declared: Declared, where: str, *,
           chargebee: bool) -> str | None:
    """Why ``where=value`` does not fit ``annotation`` (None: it fits). ``parts``: the key's brackets left."""
    if not parts:
        return None if scalar_ok(value, annotation) else f"{where}={value!r} is not a {_strip(annotation)}"
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if origin is list:
            [item] = typing.get_args(member)
            item = _strip(item)
            if chargebee and _is_typed_dict(item):  # items[field][index]
                fields = declared.hints(item)
                if parts[0] not in fields or len(parts) < 2 or not parts[1].isdigit():
                    continue
                return _check(parts[2:], value, fields[parts[0]], declared, where, chargebee=chargebee)
            if not (parts[0].isdigit() or parts[0] == ""):
                continue
            return _check(parts[1:], value, item, declared, where, chargebee=chargebee)
        if _is_typed_dict(member):
            fields = declared.hints(member)
            if parts[0] in fields:
                return _check(parts[1:], value, fields[parts[0]], declared, where, chargebee=chargebee)
        elif origin is dict or (isinstance(member, type) and member.__name__.startswith("Untyped")):
            return None  # metadata[k]=v: any key
    return f"{where}: {parts[0]!r} is not declared here ({_strip(annotation)})"


def _keys(raw: str) -> list[str]:
    head, _, rest = raw.partition("[")
    return [head, *re.findall(r"\[([^\]]*)\]", "[" + rest)] if rest else [head]


def _missing_required(request: Request, cls: type, declared: Declared, *, chargebee: bool) -> list[str]:
    """Required fields of the top level and of each list item sent (subscription_items[...][i])."""
    sent = [_keys(key) for key, _ in request.params]
    problems = [f"{request}: required {name!r} missing" for name in cls.__required_keys__  # type: ignore[attr-defined]
                if not any(parts[0] == name for parts in sent)]
    for name, annotation in declared.hints(cls).items():
        for member in _members(annotation):
            if typing.get_origin(member) is not list:
                continue
            [item] = typing.get_args(member)
            if not _is_typed_dict(_strip(item)):
                continue
            indexes: dict[str, set[str]] = {}
            for parts in sent:
                if parts[0] != name or len(parts) < 3:
                    continue
                index, field = (parts[2], parts[1]) if chargebee else (parts[1], parts[2])
                indexes.setdefault(index, set()).add(field)
            for index, fields in indexes.items():
                problems += [f"{request}: {name}[{index}] lacks required {field!r}"
                             for field in _strip(item).__required_keys__ if field not in fields]
    return problems


def stripe_problems(request: Request) -> list[str]:
    import stripe.params as stripe_params
    import stripe.params.test_helpers as test_helper_params

    for method, pattern, name in STRIPE_ENDPOINTS:
        if request.method == method and re.fullmatch(pattern, request.path):
            cls = getattr(stripe_params, name, None) or getattr(test_helper_params, name)
            break
    else:
        return [f"{request}: no stripe.params class mapped for this endpoint"]
    declared = Declared()
    fields = declared.hints(cls)
    problems = []
    for key, value in request.params:
        parts = _keys(key)
        if parts[0] in STRIPE_REQUEST_OPTIONS or parts[0] not in fields:
            problems.append(f"{request}: {key} is not declared by {name}")
            continue
        found = _check(parts[1:], value, fields[parts[0]], declared, key, chargebee=False)
        if found:
            problems.append(f"{request}: {found} ({name})")
    return problems + _missing_required(request, cls, declared, chargebee=False)


def chargebee_problems(request: Request) -> list[str]:
    found_operation = [operation for method, pattern, operation in CHARGEBEE_ENDPOINTS
                       if request.method == method and re.fullmatch(pattern, request.path)]
    if not found_operation:
        return [f"{request}: no chargebee-python params class mapped for this endpoint"]
    operation = found_operation[0]
    if operation is None:
        return [f"{request}: {key} sent where the SDK declares no params" for key, _ in request.params]
    resource, params_name = operation.split(".")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower()
    module = importlib.import_module(f"chargebee.models.{snake}.operations")
    owner = getattr(module, resource)
    cls = getattr(owner, params_name)
    declared = Declared({resource: owner})
    fields = declared.hints(cls)
    problems = []
    for key, value in request.params:
        parts = _keys(key)
        if parts[0] not in fields:
            problems.append(f"{request}: {key} is not declared by {operation}")
            continue
        found = _check(parts[1:], value, fields[parts[0]], declared, key, chargebee=True)
        if found:
            problems.append(f"{request}: {found} ({operation})")
    return problems + _missing_required(request, cls, declared, chargebee=True)


class Recorder:
    """WSGI middleware around the sandbox app: every request as it arrived, control API aside."""

    def __init__(self, app: Any):
        self.app = app
        self.inner = app.wsgi_app
        self.requests: list[Request] = []

    def __enter__(self) -> Recorder:
        self.app.wsgi_app = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.app.wsgi_app = self.inner

    def __call__(self, environ: dict, start_response: Any) -> Any:
        import io
        from urllib.parse import parse_qsl

        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_sandbox"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)  # the app reads the same bytes again
            pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
                pairs += parse_qsl(body.decode(), keep_blank_values=True)
            self.requests.append(Request(environ["REQUEST_METHOD"], path, pairs))
        return self.inner(environ, start_response)
