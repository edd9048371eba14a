"""Subscriptions, prorations, invoices, credit notes, unbilled charges, renewals.

The rules (reference chargebee.md §2a, §2c, §3):

- A change at instant t (``change_option=immediately``) turns into *segments*:
  a signed quantity of one item price over ``[t, term_end)``; in day mode t
  is the start of its day, so the day of a change counts as remaining time.
- ``prorate=true``: the new segments are merged with the subscription's open,
  not-yet-invoiced charges (pending unbilled charges are voided and reissued,
  never stacked). Positive results are charges, negative results credits.
- Charges go on an invoice now (``invoice_immediately=true``) or become
  unbilled charges swept into the next invoice of the subscription.
- Credits become a credit note: ``adjustment`` against the term's invoice
  while it is unpaid (at most its amount due), ``refundable`` otherwise;
  refundable credits auto-apply to the customer's later invoices.
- ``prorate=false``: nothing is charged or credited now; the new quantity is
  billed from the next renewal. A later ``prorate=true`` change in the same
  term creates charges but no credits (the SPEC's suppression rule).
- Per item, ``subscription_items[proration_type]`` (addon, per_unit) beats
  ``prorate``, which beats ``item_price.proration_type``, which beats the
  site setting (SPEC precedence): ``full_term`` charges/credits the whole
  term, ``partial_term`` the rest of it, ``none`` nothing.
- A plan with a different billing period resets the term at t.
- Renewal bills the quantity in force, sweeps unbilled charges and applies
  available refundable credits, then collects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import catalog
from . import params as p
from .errors import ChargebeeError, invalid_state, not_found, wrong_value
from .events import record
from .money import line_amount
from .state import ChargebeeState, public
from .terms import add_period, align_start, fraction_of_term, shown_end, to_datetime

# update_for_items parameters that change billing but that the sandbox does
# not model: refusing them beats silently ignoring them.
UNSUPPORTED_UPDATE_PARAMS = ("changes_scheduled_at", "coupon_ids", "coupons", "discounts", "item_tiers",
                             "invoice_date", "terms_to_charge", "reactivate", "reactivate_from", "trial_end",
                             "billing_cycles", "contract_term", "free_period", "setup_fee", "start_date")


PRORATION_TYPES = ("full_term", "partial_term", "none")


@dataclass
class Segment:
    item_price_id: str
    from_ms: int
    to_ms: int
    term_start_ms: int
    term_end_ms: int
    quantity: int  # signed; negative = credit


@dataclass
class Outcome:
    invoice: dict | None = None
    unbilled_charges: list[dict] = field(default_factory=list)
    credit_notes: list[dict] = field(default_factory=list)
    voided: list[dict] = field(default_factory=list)


# rendering ---------------------------------------------------------------------------


def render_subscription(state: ChargebeeState, sub: dict) -> dict:
    mode = state.settings.billing_mode
    shown = public(sub)
    term_end = shown_end(sub["_term_end_ms"], mode)
    shown.update(current_term_start=sub["_term_start_ms"] // 1000, current_term_end=term_end,
                 next_billing_at=term_end, billing_period=sub["_period"], billing_period_unit=sub["_period_unit"])
    items, mrr = [], 0
    for entry in sub["_items"]:
        price = state.item_prices[entry["item_price_id"]]
        amount = _full_amount(price, entry["quantity"])
        months = entry_months(price)
        mrr += amount // months if months else 0
        item = {"item_price_id": price["id"], "item_type": price["item_type"], "unit_price": price["price"],
                "amount": amount, "free_quantity": price.get("free_quantity", 0), "object": "subscription_item"}
        if price["pricing_model"] == "per_unit":
            item["quantity"] = entry["quantity"]
        if entry.get("proration_type"):
            item["proration_type"] = entry["proration_type"]
        if price["item_type"] in ("plan", "addon"):
            item.update(billing_period=price["period"], billing_period_unit=price["period_unit"],
                        current_term_start=shown["current_term_start"], current_term_end=term_end,
                        next_billing_at=term_end)
        items.append(item)
    shown["subscription_items"] = items
    shown["mrr"] = mrr
    due = [inv for inv in state.invoices.values() if inv.get("subscription_id") == sub["id"] and inv["amount_due"] > 0
           and inv["status"] in ("payment_due", "not_paid")]
    shown["due_invoices_count"] = len(due)
    shown["total_dues"] = sum(inv["amount_due"] for inv in due)
    if due:
        shown["due_since"] = min(inv["due_date"] for inv in due)
    return shown


def entry_months(price: dict) -> int:
    return {"month": 1, "year": 12}.get(price.get("period_unit"), 0) * price.get("period", 1)


def _billable(price: dict, quantity: int) -> int:
    if price["pricing_model"] == "flat_fee":
        return 1 if quantity else 0
    return max(quantity - price.get("free_quantity", 0), 0)


def _full_amount(price: dict, quantity: int) -> int:
    return _billable(price, quantity) * price["price"]


def get_subscription(state: ChargebeeState, sub_id: str) -> dict:
    sub = state.subscriptions.get(sub_id)
    if sub is None:
        raise not_found("subscription_id", f"Sorry, we couldn't find that resource: subscription {sub_id}")
    return sub


# segments -> money ---------------------------------------------------------------------


def consolidate(segments: list[Segment]) -> list[Segment]:
    """Net the signed quantities per item price and term over time.

    ``+3 over [Apr 11, May 1)`` and ``-2 over [Apr 21, May 1)`` become
    ``+3 over [Apr 11, Apr 21)`` and ``+1 over [Apr 21, May 1)``.
    """
    groups: dict[tuple, list[Segment]] = {}
    for seg in segments:
        groups.setdefault((seg.item_price_id, seg.term_start_ms, seg.term_end_ms), []).append(seg)
    out: list[Segment] = []
    for (price_id, term_start, term_end), group in groups.items():
        points = sorted({s.from_ms for s in group} | {s.to_ms for s in group})
        merged: list[Segment] = []
        for start, end in zip(points, points[1:]):
            net = sum(s.quantity for s in group if s.from_ms <= start and s.to_ms >= end)
            if net == 0:
                continue
            if merged and merged[-1].to_ms == start and merged[-1].quantity == net:
                merged[-1].to_ms = end
            else:
                merged.append(Segment(price_id, start, end, term_start, term_end, net))
        out.extend(merged)
    return out


def _segment_amount(state: ChargebeeState, seg: Segment) -> int:
    price = state.item_prices[seg.item_price_id]
    share = fraction_of_term(seg.from_ms, seg.to_ms, seg.term_start_ms, seg.term_end_ms,
                             state.settings.billing_mode, state.settings.timezone)
    return line_amount(abs(seg.quantity), price["price"], share, state.settings.rounding)


def _entity_type(price: dict) -> str:
    return {"plan": "plan_item_price", "addon": "addon_item_price", "charge": "charge_item_price"}[price["item_type"]]


def _fmt(ms: int, tz: str) -> str:
    return to_datetime(ms, tz).strftime("%d-%b-%Y")


def _line(state: ChargebeeState, sub: dict, seg: Segment, *, credit: bool = False) -> dict:
    price = state.item_prices[seg.item_price_id]
    mode, tz = state.settings.billing_mode, state.settings.timezone
    full_term = (seg.from_ms, seg.to_ms) == (seg.term_start_ms, seg.term_end_ms)
    name = price["external_name"]
    if credit:
        description = f"{name} - Prorated Credits for {_fmt(seg.from_ms, tz)} - {_fmt(seg.to_ms - 1, tz)}"
    elif full_term:
        description = name
    else:
        description = f"{name} - Prorated Charges"
    return {"id": state.next_id("li"), "date_from": seg.from_ms // 1000, "date_to": shown_end(seg.to_ms, mode),
            "unit_amount": price["price"], "quantity": abs(seg.quantity), "amount": _segment_amount(state, seg),
            "pricing_model": price["pricing_model"], "is_taxed": False, "tax_amount": 0, "discount_amount": 0,
            "item_level_discount_amount": 0, "description": description, "entity_description": price["name"],
            "entity_type": _entity_type(price), "entity_id": price["id"], "subscription_id": sub["id"],
            "customer_id": sub["customer_id"], "metered": False, "object": "line_item",
            "_segment": seg}


def _unbilled_from_line(state: ChargebeeState, sub: dict, line: dict) -> dict:
    charge = {"id": state.next_id("li"), "customer_id": sub["customer_id"], "subscription_id": sub["id"],
              "date_from": line["date_from"], "date_to": line["date_to"], "unit_amount": line["unit_amount"],
              "pricing_model": line["pricing_model"], "quantity": line["quantity"], "amount": line["amount"],
              "currency_code": sub["currency_code"], "discount_amount": 0, "description": line["description"],
              "entity_type": line["entity_type"], "entity_id": line["entity_id"], "is_voided": False,
              "is_advance_charge": False, "created_at": state.now, "deleted": False, "object": "unbilled_charge",
              "_segment": line.get("_segment")}
    state.touch(charge)
    state.unbilled_charges[charge["id"]] = charge
    return charge


def _open_unbilled(state: ChargebeeState, sub_id: str) -> list[dict]:
    return [uc for uc in state.unbilled_charges.values()
            if uc["subscription_id"] == sub_id and not uc["is_voided"] and not uc["deleted"]]


# invoices, payments, credits ----------------------------------------------------------


def _new_invoice(state: ChargebeeState, sub: dict, lines: list[dict], *, recurring: bool) -> dict:
    total = sum(line["amount"] for line in lines)
    invoice = {"id": state.next_id("invoice"), "customer_id": sub["customer_id"], "subscription_id": sub["id"],
               "recurring": recurring, "status": "payment_due", "price_type": "tax_exclusive", "date": state.now,
               "due_date": state.now, "net_term_days": 0, "generated_at": state.now, "exchange_rate": 1.0,
               "currency_code": sub["currency_code"], "sub_total": total, "tax": 0, "total": total,
               "amount_paid": 0, "amount_adjusted": 0, "write_off_amount": 0, "credits_applied": 0,
               "amount_due": total, "round_off_amount": 0, "first_invoice": not any(
                   inv.get("subscription_id") == sub["id"] for inv in state.invoices.values()),
               "has_advance_charges": False, "term_finalized": True, "is_gifted": False, "channel": "web",
               "deleted": False, "object": "invoice", "line_items": lines, "applied_credits": [],
               "adjustment_credit_notes": [], "issued_credit_notes": [], "linked_payments": []}
    state.invoices[invoice["id"]] = invoice
    return invoice


def _touch_invoice(state: ChargebeeState, invoice: dict) -> None:
    """Bump the invoice, and its subscription too: ``due_invoices_count``, ``total_dues``
    and ``due_since`` are subscription attributes, so a change in what is due is a
    change to the subscription (sandbox reading of "every change bumps resource_version")."""
    state.touch(invoice)
    sub = state.subscriptions.get(invoice.get("subscription_id") or "")
    if sub is not None:
        state.touch(sub)


def _settle_if_covered(state: ChargebeeState, invoice: dict) -> None:
    if invoice["amount_due"] == 0 and invoice["status"] != "paid":
        invoice["status"] = "paid"
        invoice["paid_at"] = state.now
        invoice.pop("dunning_status", None)


def _apply_refundable_credits(state: ChargebeeState, invoice: dict) -> None:
    """Available refundable credits of the customer pay the invoice first, oldest first."""
    for cn in state.credit_notes.values():
        if invoice["amount_due"] == 0:
            break
        if cn["customer_id"] != invoice["customer_id"] or cn["type"] != "refundable" or cn["amount_available"] <= 0 \
                or cn["status"] == "voided" or cn["currency_code"] != invoice["currency_code"]:
            continue
        applied = min(cn["amount_available"], invoice["amount_due"])
        invoice["amount_due"] -= applied
        invoice["credits_applied"] += applied
        invoice["applied_credits"].append({"cn_id": cn["id"], "applied_amount": applied, "applied_at": state.now,
                                           "cn_reason_code": cn["reason_code"], "cn_date": cn["date"],
                                           "cn_status": cn["status"]})
        cn["amount_available"] -= applied
        cn["amount_allocated"] += applied
        cn["allocations"].append({"invoice_id": invoice["id"], "allocated_amount": applied,
                                  "allocated_at": state.now, "invoice_date": invoice["date"],
                                  "invoice_status": "paid" if invoice["amount_due"] == 0 else invoice["status"]})
        if cn["amount_available"] == 0:
            # Fully used: nothing is left to refund (credit note status "refunded"; unverified wording).
            cn["status"] = "refunded"
        state.touch(cn)
        record(state, "credit_note_updated", {"credit_note": cn})


def collect(state: ChargebeeState, invoice: dict) -> dict | None:
    """Charge the customer's test card for the amount due. Returns the transaction."""
    customer = state.customers[invoice["customer_id"]]
    outcome = catalog.payment_succeeds(customer)
    if invoice["amount_due"] == 0 or outcome is None:
        return None
    amount = invoice["amount_due"]
    txn = {"id": state.next_id("txn"), "customer_id": customer["id"], "subscription_id": invoice.get("subscription_id"),
           "payment_method": "card", "gateway": "chargebee", "gateway_account_id": "gw_sandbox", "type": "payment",
           "date": state.now, "amount": amount, "currency_code": invoice["currency_code"], "deleted": False,
           "object": "transaction", "linked_invoices": []}
    if outcome:
        txn["status"] = "success"
        txn["linked_invoices"].append({"invoice_id": invoice["id"], "applied_amount": amount, "applied_at": state.now,
                                       "invoice_date": invoice["date"], "invoice_total": invoice["total"],
                                       "invoice_status": "paid"})
        invoice["amount_paid"] += amount
        invoice["amount_due"] = 0
        invoice["linked_payments"].append({"txn_id": txn["id"], "applied_amount": amount, "applied_at": state.now,
                                           "txn_status": "success", "txn_date": state.now, "txn_amount": amount})
        _settle_if_covered(state, invoice)
    else:
        txn.update(status="failure", error_code="card_declined", error_text="Your card was declined.")
        invoice["status"] = "payment_due"
        invoice["dunning_status"] = "in_progress"
        invoice["linked_payments"].append({"txn_id": txn["id"], "applied_amount": 0, "applied_at": state.now,
                                           "txn_status": "failure", "txn_date": state.now, "txn_amount": amount})
    state.touch(txn)
    _touch_invoice(state, invoice)
    state.transactions[txn["id"]] = txn
    # Rendered after the payment so the snapshots show what is due now.
    content = {"transaction": txn, "invoice": invoice, "customer": catalog.render_customer(state, customer)}
    sub = state.subscriptions.get(invoice.get("subscription_id") or "")
    if sub is not None:
        content["subscription"] = render_subscription(state, sub)
    record(state, "payment_succeeded" if outcome else "payment_failed", content)
    return txn


def issue_invoice(state: ChargebeeState, sub: dict, lines: list[dict], *, recurring: bool) -> dict:
    invoice = _new_invoice(state, sub, lines, recurring=recurring)
    _apply_refundable_credits(state, invoice)
    _settle_if_covered(state, invoice)
    auto_collection = sub.get("auto_collection", state.customers[sub["customer_id"]]["auto_collection"])
    if invoice["status"] != "paid" and auto_collection == "off":
        invoice["status"] = "posted"
    if invoice["status"] == "payment_due" and auto_collection == "on":
        # Collected before the invoice is announced, so invoice_generated shows the
        # outcome (paid, or payment_due in dunning) and follows the payment event.
        collect(state, invoice)
    _touch_invoice(state, invoice)
    record(state, "invoice_generated", {"invoice": invoice})
    return invoice


def _new_credit_note(state: ChargebeeState, sub: dict, lines: list[dict], amount: int, cn_type: str,
                     reference: dict | None) -> dict:
    cn = {"id": state.next_id("credit_note"), "customer_id": sub["customer_id"], "subscription_id": sub["id"],
          "type": cn_type, "reason_code": "subscription_change", "create_reason_code": "Subscription Change",
          "status": "adjusted" if cn_type == "adjustment" else "refund_due", "date": state.now,
          "generated_at": state.now, "price_type": "tax_exclusive", "currency_code": sub["currency_code"],
          "total": amount, "sub_total": amount, "amount_allocated": amount if cn_type == "adjustment" else 0,
          "amount_refunded": 0, "amount_available": 0 if cn_type == "adjustment" else amount,
          "round_off_amount": 0, "fractional_correction": 0, "channel": "web", "deleted": False,
          "object": "credit_note", "line_items": lines, "allocations": [], "linked_refunds": []}
    if reference is not None:
        cn["reference_invoice_id"] = reference["id"]
    state.touch(cn)
    state.credit_notes[cn["id"]] = cn
    return cn


def _split_lines(state: ChargebeeState, lines: list[dict], first_amount: int) -> tuple[list[dict], list[dict]]:
    """Lines worth ``first_amount`` (in order, a line split at the boundary) and the rest."""
    first, rest, left = [], [], first_amount
    for line in lines:
        take = min(left, line["amount"])
        left -= take
        if take:
            first.append({**line, "id": state.next_id("li"), "amount": take})
        if line["amount"] - take:
            rest.append({**line, "id": state.next_id("li"), "amount": line["amount"] - take})
    return first, rest


def issue_credits(state: ChargebeeState, sub: dict, credit_lines: list[dict]) -> list[dict]:
    """Credit notes for the unused period: adjustment while the term invoice is unpaid, else refundable.

    A credit larger than what the unpaid invoice still owes is split: the
    adjustment note covers the amount due, a refundable note the rest
    (sandbox rule; how Chargebee splits such a credit is unverified).
    """
    total = sum(line["amount"] for line in credit_lines)
    if total == 0:
        return []
    term_invoice = state.invoices.get(sub.get("_term_invoice_id") or "")
    adjustable = term_invoice["amount_due"] if term_invoice and term_invoice["status"] in (
        "payment_due", "not_paid", "posted") else 0
    adjustment = min(adjustable, total)
    adjustment_lines, refundable_lines = (_split_lines(state, credit_lines, adjustment)
                                          if 0 < adjustment < total else
                                          (credit_lines, []) if adjustment else ([], credit_lines))
    notes = []
    if adjustment:
        cn = _new_credit_note(state, sub, adjustment_lines, adjustment, "adjustment", term_invoice)
        summary = {"cn_id": cn["id"], "cn_reason_code": cn["reason_code"],
                   "cn_create_reason_code": cn["create_reason_code"], "cn_date": cn["date"],
                   "cn_total": adjustment, "cn_status": cn["status"]}
        term_invoice["amount_adjusted"] += adjustment
        term_invoice["amount_due"] -= adjustment
        term_invoice["adjustment_credit_notes"].append(dict(summary))
        term_invoice["issued_credit_notes"].append(dict(summary))
        cn["allocations"].append({"invoice_id": term_invoice["id"], "allocated_amount": adjustment,
                                  "allocated_at": state.now, "invoice_date": term_invoice["date"],
                                  "invoice_status": term_invoice["status"]})
        _settle_if_covered(state, term_invoice)
        _touch_invoice(state, term_invoice)
        notes.append(cn)
        record(state, "credit_note_created", {"credit_note": cn})
        record(state, "invoice_updated", {"invoice": term_invoice})
    if total - adjustment:
        cn = _new_credit_note(state, sub, refundable_lines, total - adjustment, "refundable", term_invoice)
        notes.append(cn)
        record(state, "credit_note_created", {"credit_note": cn})
    return notes


# subscriptions ---------------------------------------------------------------------------


def _parse_items(state: ChargebeeState, params: dict, currency: str | None) -> list[dict]:
    entries = []
    for index, fields in p.item_list(params, "subscription_items"):
        label = f"subscription_items[item_price_id][{index}]"
        price_id = p.required(p.string(fields, "item_price_id", wire=label, max_length=100), label)
        price = catalog.get_item_price(state, price_id, param=label)
        if currency is not None and price["currency_code"] != currency:
            raise wrong_value(label, f"{label} : currency {price['currency_code']} does not match the "
                                     f"subscription currency {currency}")
        qlabel = f"subscription_items[quantity][{index}]"
        quantity = p.integer(fields, "quantity", wire=qlabel, minimum=1)
        # SPEC: quantity applies to per_unit/tiered/stairstep. A flat fee is one unit, so
        # quantity 1 is taken as "the item" (sandbox leniency, unverified) and more is refused.
        if quantity is not None and quantity != 1 and price["pricing_model"] == "flat_fee":
            raise wrong_value(qlabel, f"{qlabel} : quantity cannot be more than 1 for a flat_fee item price")
        if price["pricing_model"] == "flat_fee":
            quantity = None
        plabel = f"subscription_items[proration_type][{index}]"
        proration_type = p.string(fields, "proration_type", wire=plabel, choices=PRORATION_TYPES)
        if proration_type is not None and (price["item_type"], price["pricing_model"]) != ("addon", "per_unit"):
            raise wrong_value(plabel, f"{plabel} : only for addon item prices with per_unit pricing")
        for extra in fields:
            if extra not in ("item_price_id", "quantity", "item_type", "proration_type"):
                raise ChargebeeError(400, "param_wrong_value",
                                     f"subscription_items[{extra}][{index}] is not supported by the sandbox",
                                     param=f"subscription_items[{extra}][{index}]")
        entries.append({"item_price_id": price_id, "quantity": quantity, "proration_type": proration_type,
                        "_price": price, "_index": index})
    seen = set()
    for entry in entries:
        if entry["item_price_id"] in seen:
            raise wrong_value(f"subscription_items[item_price_id][{entry['_index']}]",
                              f"item price {entry['item_price_id']} is given more than once")
        seen.add(entry["item_price_id"])
    return entries


def _plan_of(state: ChargebeeState, items: list[dict]) -> dict:
    return next(state.item_prices[i["item_price_id"]] for i in items
                if state.item_prices[i["item_price_id"]]["item_type"] == "plan")


def _check_periods(state: ChargebeeState, items: list[dict]) -> None:
    plans = [i for i in items if state.item_prices[i["item_price_id"]]["item_type"] == "plan"]
    if len(plans) != 1:
        raise wrong_value("subscription_items[item_price_id][0]",
                          "a subscription must have exactly one plan item price")
    plan = state.item_prices[plans[0]["item_price_id"]]
    for entry in items:
        price = state.item_prices[entry["item_price_id"]]
        if price["item_type"] == "addon" and (price["period"], price["period_unit"]) != (plan["period"], plan["period_unit"]):
            raise ChargebeeError(400, "configuration_incompatible",
                                 f"addon item price {price['id']} bills every {price['period']} {price['period_unit']} "
                                 f"but the plan bills every {plan['period']} {plan['period_unit']}",
                                 param="subscription_items[item_price_id]")


def _full_term_segments(state: ChargebeeState, sub: dict) -> list[Segment]:
    segs = []
    for entry in sub["_items"]:
        price = state.item_prices[entry["item_price_id"]]
        qty = _billable(price, entry["quantity"])
        if qty:
            segs.append(Segment(price["id"], sub["_term_start_ms"], sub["_term_end_ms"],
                                sub["_term_start_ms"], sub["_term_end_ms"], qty))
    return segs


def _start_term(state: ChargebeeState, sub: dict, start_ms: int) -> None:
    plan = _plan_of(state, sub["_items"])
    sub.update(_anchor_ms=start_ms, _terms=0, _period=plan["period"], _period_unit=plan["period_unit"],
               _term_start_ms=start_ms,
               _term_end_ms=add_period(start_ms, plan["period"], plan["period_unit"], 1, state.settings.timezone),
               _unprorated_change_in_term=False, _term_invoice_id=None)


def create_with_items(state: ChargebeeState, customer_id: str, params: dict) -> tuple[dict, Outcome]:
    customer = catalog.get_customer(state, customer_id)
    sub_id = p.string(params, "id", max_length=50)
    if sub_id is not None and sub_id in state.subscriptions:
        raise ChargebeeError(400, "duplicate_entry", f"The value {sub_id} is already present.", param="id")
    for name in UNSUPPORTED_UPDATE_PARAMS:
        if name in params and name not in ("reactivate", "reactivate_from", "changes_scheduled_at"):
            raise wrong_value(name, f"{name} is not supported by the sandbox")
    entries = _parse_items(state, params, None)
    if not entries:
        raise wrong_value("subscription_items[item_price_id][0]", "subscription_items[item_price_id][0] : cannot be blank")
    currencies = {e["_price"]["currency_code"] for e in entries}
    if len(currencies) > 1:
        raise wrong_value("subscription_items[item_price_id][0]", "all item prices must share one currency")
    items = [{"item_price_id": e["item_price_id"], "quantity": e["quantity"] or 1} for e in entries
             if e["_price"]["item_type"] != "charge"]
    _check_periods(state, items)
    invoice_immediately = p.boolean(params, "invoice_immediately", state.settings.invoice_immediately)
    meta = p.json_object(params, "meta_data")
    auto_collection = p.string(params, "auto_collection", customer["auto_collection"], choices=("on", "off"))
    sub = {"id": sub_id or state.next_id("sub"), "customer_id": customer_id, "status": "active",
           "currency_code": currencies.pop(), "created_at": state.now, "started_at": state.now,
           "activated_at": state.now, "auto_collection": auto_collection, "has_scheduled_changes": False,
           "channel": "web", "deleted": False, "object": "subscription", "_items": items}
    if meta is not None:
        sub["meta_data"] = meta
    _start_term(state, sub, align_start(state.now_ms, state.settings.billing_mode, state.settings.timezone))
    state.touch(sub)
    state.subscriptions[sub["id"]] = sub
    outcome = Outcome()
    lines = [_line(state, sub, seg) for seg in _full_term_segments(state, sub)]
    lines += _one_off_lines(state, sub, entries)
    record(state, "subscription_created", {"subscription": render_subscription(state, sub),
                                           "customer": catalog.render_customer(state, customer)})
    _realize_charges(state, sub, lines, invoice_immediately, outcome, recurring=True)
    return sub, outcome


def _one_off_lines(state: ChargebeeState, sub: dict, entries: list[dict]) -> list[dict]:
    """Charge item prices in ``subscription_items``: billed once, now, unprorated."""
    lines = []
    for entry in entries:
        price = entry["_price"]
        if price["item_type"] != "charge":
            continue
        qty = entry["quantity"] or 1
        amount = _full_amount(price, qty)
        lines.append({"id": state.next_id("li"), "date_from": state.now, "date_to": state.now,
                      "unit_amount": price["price"], "quantity": qty if price["pricing_model"] == "per_unit" else 1,
                      "amount": amount, "pricing_model": price["pricing_model"], "is_taxed": False, "tax_amount": 0,
                      "discount_amount": 0, "item_level_discount_amount": 0, "description": price["external_name"],
                      "entity_description": price["name"], "entity_type": "charge_item_price",
                      "entity_id": price["id"], "subscription_id": sub["id"], "customer_id": sub["customer_id"],
                      "metered": False, "object": "line_item"})
    return lines


def _realize_charges(state: ChargebeeState, sub: dict, lines: list[dict], invoice_immediately: bool,
                     outcome: Outcome, *, recurring: bool) -> None:
    lines = [line for line in lines if line["amount"] > 0]
    if not lines:
        return
    if invoice_immediately:
        outcome.invoice = issue_invoice(state, sub, lines, recurring=recurring)
        if recurring and sub.get("_term_invoice_id") is None:
            sub["_term_invoice_id"] = outcome.invoice["id"]
    else:
        created = [_unbilled_from_line(state, sub, line) for line in lines]
        outcome.unbilled_charges.extend(created)
        record(state, "unbilled_charges_created", {"unbilled_charges": created})


def update_for_items(state: ChargebeeState, sub_id: str, params: dict) -> tuple[dict, Outcome]:
    sub = get_subscription(state, sub_id)
    if sub["status"] not in ("active", "non_renewing", "in_trial"):
        raise invalid_state(f"The subscription is {sub['status']}; it cannot be changed.")
    change_option = p.string(params, "change_option", choices=("immediately", "end_of_term", "specific_date"))
    end_of_term = p.boolean(params, "end_of_term", False)
    if change_option in ("end_of_term", "specific_date") or (change_option is None and end_of_term):
        raise wrong_value("change_option", "the sandbox applies changes immediately only; end_of_term and "
                                           "specific_date (deprecated in favour of ramps) are not supported")
    for name in UNSUPPORTED_UPDATE_PARAMS:
        if name in params:
            raise wrong_value(name, f"{name} is not supported by the sandbox")
    if p.boolean(params, "force_term_reset", False):
        raise wrong_value("force_term_reset", "force_term_reset=true is not supported by the sandbox")
    prorate_param = p.boolean(params, "prorate")
    prorate = state.settings.prorate if prorate_param is None else prorate_param
    invoice_immediately = p.boolean(params, "invoice_immediately", state.settings.invoice_immediately)
    replace = p.boolean(params, "replace_items_list", False)
    meta = p.json_object(params, "meta_data")
    auto_collection = p.string(params, "auto_collection", choices=("on", "off"))
    entries = _parse_items(state, params, sub["currency_code"])
    requested_types = {e["item_price_id"]: e["proration_type"] for e in entries if e["proration_type"]}
    for entry in sub["_items"]:
        kept = entry.get("proration_type")
        wanted = requested_types.get(entry["item_price_id"])
        if kept and wanted and kept != wanted:
            raise wrong_value(f"subscription_items[proration_type][{_index_of(entries, entry['item_price_id'])}]",
                              "proration_type cannot be changed again within the current term")
    new_items = _merge_items(state, sub["_items"], [e for e in entries if e["_price"]["item_type"] != "charge"],
                             replace)
    _check_periods(state, new_items)

    old_items = sub["_items"]
    old_plan, new_plan = _plan_of(state, old_items), _plan_of(state, new_items)
    term_reset = (old_plan["period"], old_plan["period_unit"]) != (new_plan["period"], new_plan["period_unit"])
    tz, mode = state.settings.timezone, state.settings.billing_mode
    at = max(align_start(state.now_ms, mode, tz), sub["_term_start_ms"])
    term_start, term_end = sub["_term_start_ms"], sub["_term_end_ms"]
    stored_types = {i["item_price_id"]: i.get("proration_type") for i in new_items}

    def proration_for(price_id: str) -> str:
        # SPEC precedence: subscription_items[proration_type] > prorate > item_price.proration_type > site.
        if stored_types.get(price_id):
            return stored_types[price_id]
        if prorate_param is not None:
            return "partial_term" if prorate_param else "none"
        item_default = state.item_prices[price_id].get("proration_type", "site_default")
        if item_default in ("full_term", "partial_term"):
            return item_default
        return "partial_term" if state.settings.prorate else "none"

    new_segments: list[Segment] = []
    unprorated = False
    old_q = {i["item_price_id"]: _billable(state.item_prices[i["item_price_id"]], i["quantity"]) for i in old_items}
    new_q = {i["item_price_id"]: _billable(state.item_prices[i["item_price_id"]], i["quantity"]) for i in new_items}
    if term_reset:
        # The old term ends now: the unused rest of every old item is credited.
        for price_id, qty in old_q.items():
            if qty and prorate:
                new_segments.append(Segment(price_id, at, term_end, term_start, term_end, -qty))
        unprorated = not prorate
    else:
        for price_id in sorted(old_q.keys() | new_q.keys()):
            delta = new_q.get(price_id, 0) - old_q.get(price_id, 0)
            if not delta:
                continue
            how = proration_for(price_id)
            if how == "none":
                unprorated = True
            else:
                start = term_start if how == "full_term" else at
                new_segments.append(Segment(price_id, start, term_end, term_start, term_end, delta))

    outcome = Outcome()
    suppress_credits = sub["_unprorated_change_in_term"]
    sub["_items"] = new_items
    if meta is not None:
        sub["meta_data"] = meta
    if auto_collection is not None:
        sub["auto_collection"] = auto_collection
    charge_lines: list[dict] = []
    if new_segments:
        pending = [uc for uc in _open_unbilled(state, sub["id"]) if uc.get("_segment") is not None]
        merged = consolidate([uc["_segment"] for uc in pending] + new_segments)
        for uc in pending:
            uc["is_voided"] = True
            uc["voided_at"] = state.now
            state.touch(uc)
        outcome.voided = pending
        if pending:
            record(state, "unbilled_charges_voided", {"unbilled_charges": pending})
        credits = [_line(state, sub, seg, credit=True) for seg in merged if seg.quantity < 0]
        charge_lines = [_line(state, sub, seg) for seg in merged if seg.quantity > 0]
        if credits and not suppress_credits:
            outcome.credit_notes = issue_credits(state, sub, credits)
    if unprorated:
        sub["_unprorated_change_in_term"] = True
    if term_reset:
        _start_term(state, sub, at)
        charge_lines += [_line(state, sub, seg) for seg in _full_term_segments(state, sub)]
    charge_lines += _one_off_lines(state, sub, entries)
    _realize_charges(state, sub, charge_lines, invoice_immediately, outcome, recurring=term_reset)
    state.touch(sub)
    content = {"subscription": render_subscription(state, sub),
               "customer": catalog.render_customer(state, state.customers[sub["customer_id"]])}
    if outcome.invoice is not None:
        content["invoice"] = outcome.invoice
    if outcome.credit_notes:
        content["credit_notes"] = outcome.credit_notes
    if outcome.unbilled_charges:
        content["unbilled_charges"] = outcome.unbilled_charges
    record(state, "subscription_changed", content)
    return sub, outcome


def _index_of(entries: list[dict], price_id: str) -> int:
    return next(e["_index"] for e in entries if e["item_price_id"] == price_id)


def _merge_items(state: ChargebeeState, current: list[dict], requested: list[dict], replace: bool) -> list[dict]:
    """The subscription's item list after ``subscription_items`` (SPEC ``replace_items_list``)."""
    def price(entry):
        return state.item_prices[entry["item_price_id"]]

    has_plan = any(price(e)["item_type"] == "plan" for e in requested)
    existing = {e["item_price_id"]: e["quantity"] for e in current}
    if replace and has_plan:
        base: list[dict] = []
    elif replace:
        base = [dict(e) for e in current if price(e)["item_type"] == "plan"]
    elif has_plan:
        base = [dict(e) for e in current if price(e)["item_type"] != "plan"]
    else:
        base = [dict(e) for e in current]
    by_id = {e["item_price_id"]: e for e in base}
    kept_types = {e["item_price_id"]: e.get("proration_type") for e in current}
    for entry in requested:
        quantity = entry["quantity"] or existing.get(entry["item_price_id"], 1)
        if entry["item_price_id"] in by_id:
            by_id[entry["item_price_id"]]["quantity"] = quantity
        else:
            item = {"item_price_id": entry["item_price_id"], "quantity": quantity}
            base.append(item)
            by_id[item["item_price_id"]] = item
        proration_type = entry.get("proration_type") or kept_types.get(entry["item_price_id"])
        if proration_type:
            # Kept on the subscription item for the rest of the term (SPEC).
            by_id[entry["item_price_id"]]["proration_type"] = proration_type
    return base


# unbilled charges and renewals --------------------------------------------------------------


def invoice_unbilled(state: ChargebeeState, sub: dict) -> dict | None:
    """Sweep the subscription's open unbilled charges into one invoice."""
    pending = _open_unbilled(state, sub["id"])
    if not pending:
        return None
    lines = [_swept_line(state, uc) for uc in pending]
    invoice = issue_invoice(state, sub, lines, recurring=False)
    _mark_invoiced(state, pending, invoice)
    return invoice


def _swept_line(state: ChargebeeState, uc: dict) -> dict:
    keys = ("date_from", "date_to", "unit_amount", "quantity", "amount", "pricing_model", "description",
            "entity_type", "entity_id", "subscription_id", "customer_id", "discount_amount")
    line = {k: uc[k] for k in keys}
    line.update(id=state.next_id("li"), is_taxed=False, tax_amount=0, item_level_discount_amount=0,
                entity_description=uc["description"], metered=False, object="line_item")
    return line


def _mark_invoiced(state: ChargebeeState, charges: list[dict], invoice: dict) -> None:
    for uc in charges:
        uc["deleted"] = True  # invoiced charges leave the unbilled list (include_deleted shows them)
        state.touch(uc)
    record(state, "unbilled_charges_invoiced", {"unbilled_charges": charges, "invoice": invoice})


def renew(state: ChargebeeState, sub: dict) -> dict | None:
    """Start the next term at the current term's end and bill it."""
    state.now_ms = max(state.now_ms, sub["_term_end_ms"])
    sub["_terms"] += 1
    sub["_term_start_ms"] = sub["_term_end_ms"]
    sub["_term_end_ms"] = add_period(sub["_anchor_ms"], sub["_period"], sub["_period_unit"], sub["_terms"] + 1,
                                     state.settings.timezone)
    sub["_unprorated_change_in_term"] = False
    sub["_term_invoice_id"] = None
    for entry in sub["_items"]:
        entry.pop("proration_type", None)  # removed at the next renewal (SPEC)
    pending = _open_unbilled(state, sub["id"])
    lines = [_line(state, sub, seg) for seg in _full_term_segments(state, sub)]
    lines = [line for line in lines if line["amount"] > 0] + [_swept_line(state, uc) for uc in pending]
    state.touch(sub)
    invoice = None
    if lines:
        invoice = issue_invoice(state, sub, lines, recurring=True)
        sub["_term_invoice_id"] = invoice["id"]
        if pending:
            _mark_invoiced(state, pending, invoice)
    content = {"subscription": render_subscription(state, sub),
               "customer": catalog.render_customer(state, state.customers[sub["customer_id"]])}
    if invoice is not None:
        content["invoice"] = invoice
    record(state, "subscription_renewed", content, source="scheduled_job")
    return invoice


def travel_forward(state: ChargebeeState, destination_ms: int) -> list[dict]:
    """Move the site clock, renewing every subscription whose term ends on the way, in time order."""
    if destination_ms <= state.now_ms:
        raise wrong_value("destination_time", "destination_time : must be later than the time machine's current time")
    invoices = []
    while True:
        due = [s for s in state.subscriptions.values()
               if s["status"] == "active" and s["_term_end_ms"] <= destination_ms]
        if not due:
            break
        sub = min(due, key=lambda s: (s["_term_end_ms"], s["created_at"], s["id"]))
        invoice = renew(state, sub)
        if invoice is not None:
            invoices.append(invoice)
    state.now_ms = destination_ms
    state.time_machine["destination_time"] = destination_ms // 1000
    state.time_machine["time_travel_status"] = "succeeded"
    return invoices


def collect_payment(state: ChargebeeState, invoice_id: str) -> tuple[dict, dict]:
    invoice = state.invoices.get(invoice_id)
    if invoice is None:
        raise not_found("invoice_id", f"Sorry, we couldn't find that resource: invoice {invoice_id}")
    if invoice["status"] not in ("payment_due", "not_paid", "posted") or invoice["amount_due"] == 0:
        raise invalid_state(f"Invoice {invoice_id} is {invoice['status']}; there is nothing to collect.")
    customer = state.customers[invoice["customer_id"]]
    if catalog.payment_succeeds(customer) is None:
        raise ChargebeeError(400, "payment_method_not_present", "No payment method is present for the customer.",
                             type="payment")
    # A declined card is still recorded (failed transaction, dunning); the
    # caller answers 400 payment_processing_failed after publishing the events.
    txn = collect(state, invoice)
    if txn["status"] == "success":
        record(state, "invoice_updated", {"invoice": invoice})  # amount due changed by the payment
    return invoice, txn

