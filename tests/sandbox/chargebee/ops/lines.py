"""Line items and unbilled charges made from segments, one-off charges and swept charges.

Line shape per chargebee-python ``LineItemResponse`` / ``UnbilledChargeResponse``;
descriptions follow the MOCK credit-note sample ("<name> - Prorated Credits for
<from> - <to>", reference chargebee.md §2c) and are not to be parsed.
"""

from __future__ import annotations

from ..money import line_amount
from ..proration import Segment, billable, full_amount
from ..state import ChargebeeState
from ..terms import fraction_of_term, shown_end, to_datetime


def segment_amount(state: ChargebeeState, seg: Segment) -> int:
    price = state.item_prices[seg.item_price_id]
    share = fraction_of_term(seg.from_ms, seg.to_ms, seg.term_start_ms, seg.term_end_ms,
                             state.settings.billing_mode, state.settings.timezone)
    return line_amount(abs(seg.quantity), price["price"], share, state.settings.rounding)


def entity_type(price: dict) -> str:
    return {"plan": "plan_item_price", "addon": "addon_item_price", "charge": "charge_item_price"}[price["item_type"]]


def _fmt(ms: int, tz: str) -> str:
    return to_datetime(ms, tz).strftime("%d-%b-%Y")


def line(state: ChargebeeState, sub: dict, seg: Segment, *, credit: bool = False) -> dict:
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
            "unit_amount": price["price"], "quantity": abs(seg.quantity), "amount": segment_amount(state, seg),
            "pricing_model": price["pricing_model"], "is_taxed": False, "tax_amount": 0, "discount_amount": 0,
            "item_level_discount_amount": 0, "description": description, "entity_description": price["name"],
            "entity_type": entity_type(price), "entity_id": price["id"], "subscription_id": sub["id"],
            "customer_id": sub["customer_id"], "metered": False, "object": "line_item",
            "_segment": seg}


def unbilled_from_line(state: ChargebeeState, sub: dict, line: dict) -> dict:
    charge = {"id": state.next_id("li"), "customer_id": sub["customer_id"], "subscription_id": sub["id"],
              "date_from": line["date_from"], "date_to": line["date_to"], "unit_amount": line["unit_amount"],
              "pricing_model": line["pricing_model"], "quantity": line["quantity"], "amount": line["amount"],
              "currency_code": sub["currency_code"], "discount_amount": 0, "description": line["description"],
              "entity_type": line["entity_type"], "entity_id": line["entity_id"], "is_voided": False,
              "is_advance_charge": False, "created_at": state.now, "deleted": False, "object": "unbilled_charge",
              "_segment": line.get("_segment")}
    state.touch_unversioned(charge)
    state.unbilled_charges[charge["id"]] = charge
    return charge


def open_unbilled(state: ChargebeeState, sub_id: str) -> list[dict]:
    return state.open_unbilled.objects(sub_id)


def one_off_lines(state: ChargebeeState, sub: dict, entries: list[dict], at_ms: int) -> list[dict]:
    """Charge item prices in ``subscription_items``: billed once, unprorated, dated ``at_ms``
    (now; a backdated change's effective instant)."""
    lines = []
    for entry in entries:
        price = entry["_price"]
        if price["item_type"] != "charge":
            continue
        qty = entry["quantity"] or 1
        amount = full_amount(price, qty)
        lines.append({"id": state.next_id("li"), "date_from": at_ms // 1000, "date_to": at_ms // 1000,
                      "unit_amount": price["price"], "quantity": qty if price["pricing_model"] == "per_unit" else 1,
                      "amount": amount, "pricing_model": price["pricing_model"], "is_taxed": False, "tax_amount": 0,
                      "discount_amount": 0, "item_level_discount_amount": 0, "description": price["external_name"],
                      "entity_description": price["name"], "entity_type": "charge_item_price",
                      "entity_id": price["id"], "subscription_id": sub["id"], "customer_id": sub["customer_id"],
                      "metered": False, "object": "line_item"})
    return lines


def swept_line(state: ChargebeeState, uc: dict) -> dict:
    keys = ("date_from", "date_to", "unit_amount", "quantity", "amount", "pricing_model", "description",
            "entity_type", "entity_id", "subscription_id", "customer_id", "discount_amount")
    line = {k: uc[k] for k in keys}
    line.update(id=state.next_id("li"), is_taxed=False, tax_amount=0, item_level_discount_amount=0,
                entity_description=uc["description"], metered=False, object="line_item")
    return line


def full_term_segments(state: ChargebeeState, sub: dict) -> list[Segment]:
    segs = []
    for entry in sub["_items"]:
        price = state.item_prices[entry["item_price_id"]]
        qty = billable(price, entry["quantity"])
        if qty:
            segs.append(Segment(price["id"], sub["_term_start_ms"], sub["_term_end_ms"],
                                sub["_term_start_ms"], sub["_term_end_ms"], qty))
    return segs
