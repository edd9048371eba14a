"""``/v1/customers`` (and balance transactions), ``/v1/products``, ``/v1/prices``."""

from __future__ import annotations

from flask import Blueprint

from .. import params as P
from .http import check_supported, paginate, run
from ..errors import StripeError
from ..ops import customers
from ..ops.objects import render
from ..state import Ledger

bp = Blueprint("customers", __name__)

INTERVALS = ("day", "week", "month", "year")


def _default_payment_method(p: dict) -> str | None:
    settings = p.get("invoice_settings")
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise StripeError.invalid("Invalid object", param="invoice_settings")
    check_supported(settings, {"default_payment_method"}, "invoice_settings")
    return settings.get("default_payment_method")


@bp.post("/customers")
def create_customer():
    def act(ledger: Ledger, p: dict):
        return render(ledger, customers.create_customer(
            ledger, email=p.get("email"), name=p.get("name"), description=p.get("description"),
            metadata=P.as_metadata(p), test_clock=p.get("test_clock"),
            payment_method=_default_payment_method(p) or p.get("payment_method"),
            balance=P.as_int(p, "balance") or 0))
    return run("CustomerCreateParams", {"email", "name", "description", "metadata", "test_clock",
                                        "payment_method", "invoice_settings", "balance", "expand"}, act)


@bp.get("/customers/<cid>")
def retrieve_customer(cid):
    return run("CustomerRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.customers, "customer", cid)))


@bp.post("/customers/<cid>")
def update_customer(cid):
    def act(ledger: Ledger, p: dict):
        customer = ledger.get(ledger.customers, "customer", cid)
        return render(ledger, customers.update_customer(
            ledger, customer, email=p.get("email"), name=p.get("name"), description=p.get("description"),
            metadata=P.as_metadata(p), payment_method=_default_payment_method(p)))
    return run("CustomerUpdateParams", {"email", "name", "description", "metadata", "invoice_settings",
                                        "expand"}, act)


@bp.post("/customers/<cid>/balance_transactions")
def create_balance_transaction(cid):
    def act(ledger: Ledger, p: dict):
        customer = ledger.get(ledger.customers, "customer", cid)
        amount = P.as_int(p, "amount")
        if amount is None:
            raise StripeError.missing("amount")
        if p.get("currency") is None:
            raise StripeError.missing("currency")
        customers.charge_in(customer, p["currency"].lower(), "currency")
        txn = customers.add_balance_transaction(ledger, customer, amount, "adjustment",
                                                description=p.get("description"))
        txn["metadata"] = P.as_metadata(p) or {}
        return render(ledger, txn)
    return run("CustomerBalanceTransactionCreateParams", {"amount", "currency", "description", "metadata",
                                                          "expand"}, act)


@bp.get("/customers/<cid>/balance_transactions")
def list_balance_transactions(cid):
    def act(ledger: Ledger, p: dict):
        ledger.get(ledger.customers, "customer", cid)
        txns = ledger.balance_transactions_by_customer.objects(cid)[::-1]
        return paginate(txns, p, f"/v1/customers/{cid}/balance_transactions", lambda obj: render(ledger, obj))
    return run("CustomerBalanceTransactionListParams", {"limit", "starting_after", "ending_before", "expand"},
               act)


@bp.post("/products")
def create_product():
    def act(ledger: Ledger, p: dict):
        if not p.get("name"):
            raise StripeError.missing("name")
        return render(ledger, customers.create_product(ledger, name=p["name"], product_id=p.get("id"),
                                                       description=p.get("description"),
                                                       metadata=P.as_metadata(p),
                                                       active=P.as_bool(p, "active") is not False))
    return run("ProductCreateParams", {"id", "name", "description", "metadata", "active", "expand"}, act)


@bp.get("/products/<pid>")
def retrieve_product(pid):
    return run("ProductRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.products, "product", pid)))


@bp.post("/prices")
def create_price():
    def act(ledger: Ledger, p: dict):
        for name in ("product", "currency", "unit_amount", "recurring"):
            if p.get(name) in (None, ""):
                raise StripeError.missing(name)
        recurring = p["recurring"]
        if not isinstance(recurring, dict):
            raise StripeError.invalid("Invalid object", param="recurring")
        check_supported(recurring, {"interval", "interval_count"}, "recurring")
        if recurring.get("interval") is None:
            raise StripeError.missing("recurring[interval]")
        interval = P.as_choice(recurring, "interval", INTERVALS, where="recurring[interval]")
        count = P.as_int(recurring, "interval_count", where="recurring[interval_count]", minimum=1) or 1
        return render(ledger, customers.create_price(
            ledger, product=p["product"], unit_amount=P.as_int(p, "unit_amount", minimum=0),
            currency=p["currency"].lower(), interval=interval, interval_count=count,
            nickname=p.get("nickname"), lookup_key=p.get("lookup_key"), metadata=P.as_metadata(p)))
    return run("PriceCreateParams", {"product", "currency", "unit_amount", "recurring", "nickname",
                                     "lookup_key", "metadata", "expand"}, act)


@bp.get("/prices/<pid>")
def retrieve_price(pid):
    return run("PriceRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.prices, "price", pid)))
