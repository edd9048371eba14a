"""Subscriptions: ``create_with_items`` and ``update_for_items`` (changes and their prorations).

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

from .. import params as p
from ..errors import ChargebeeError, invalid_state, missing, not_found, wrong_value
from . import catalog
from .backdating import at_term_end, effective_at
from .credits import issue_credits
from .events import record
from .invoices import issue_invoice
from .lines import full_term_segments, line, one_off_lines, open_unbilled, unbilled_from_line
from .render import render_customer, render_subscription
from ..proration import Segment, billable, consolidate
from ..state import ChargebeeState
from ..terms import add_period, align_start


# update_for_items parameters that change billing but that the sandbox does
# not model: refusing them beats silently ignoring them.
UNSUPPORTED_UPDATE_PARAMS = ("coupon_ids", "coupons", "discounts", "item_tiers", "invoice_date", "terms_to_charge",
                             "reactivate", "reactivate_from", "trial_end", "billing_cycles", "contract_term",
                             "free_period", "setup_fee", "start_date")


PRORATION_TYPES = ("full_term", "partial_term", "none")


@dataclass
class Outcome:
    invoice: dict | None = None
    unbilled_charges: list[dict] = field(default_factory=list)
    credit_notes: list[dict] = field(default_factory=list)
    voided: list[dict] = field(default_factory=list)


def get_subscription(state: ChargebeeState, sub_id: str) -> dict:
    sub = state.subscriptions.get(sub_id)
    if sub is None:
        raise not_found("subscription_id", f"Sorry, we couldn't find that resource: subscription {sub_id}")
    return sub


# Statuses the control API may set (a test hook; chargebee-python's Subscription.Status enum minus those
# that end a term, which the sandbox does not model).
SETTABLE_STATUSES = ("active", "in_trial", "future", "paused", "non_renewing")


def set_status(state: ChargebeeState, sub_id: str, status: str) -> dict:
    """Control API only: set the status field and nothing else (trials, pauses and term-end
    cancellations are not modelled), so tests can reach the rules that depend on the status."""
    sub = get_subscription(state, sub_id)
    if status not in SETTABLE_STATUSES:
        raise wrong_value("status", f"status must be one of {', '.join(SETTABLE_STATUSES)}")
    sub["status"] = status
    state.touch(sub)
    return sub


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


def _start_term(state: ChargebeeState, sub: dict, start_ms: int) -> None:
    plan = _plan_of(state, sub["_items"])
    sub.update(_anchor_ms=start_ms, _terms=0, _period=plan["period"], _period_unit=plan["period_unit"],
               _term_start_ms=start_ms,
               _term_end_ms=add_period(start_ms, plan["period"], plan["period_unit"], 1, state.settings.timezone),
               _unprorated_change_in_term=False, _term_invoice_id=None,
               # The effective instant of the last change to the items (creation and term resets count),
               # which a backdated change may not precede (ops/backdating.py).
               _last_item_change_ms=start_ms)


def create_with_items(state: ChargebeeState, customer_id: str, params: dict) -> tuple[dict, Outcome]:
    customer = catalog.get_customer(state, customer_id)
    sub_id = p.string(params, "id", max_length=50)
    if sub_id is not None and sub_id in state.subscriptions:
        raise ChargebeeError(400, "duplicate_entry", f"The value {sub_id} is already present.", param="id")
    for name in UNSUPPORTED_UPDATE_PARAMS:
        if name in params and name not in ("reactivate", "reactivate_from"):
            raise wrong_value(name, f"{name} is not supported by the sandbox")
    entries = _parse_items(state, params, None)
    if not entries:
        raise missing("subscription_items[item_price_id][0]")
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
    lines = [line(state, sub, seg) for seg in full_term_segments(state, sub)]
    lines += one_off_lines(state, sub, entries, state.now_ms)
    record(state, "subscription_created", {"subscription": render_subscription(state, sub),
                                           "customer": render_customer(state, customer)})
    _realize_charges(state, sub, lines, invoice_immediately, outcome, recurring=True)
    return sub, outcome


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
        created = [unbilled_from_line(state, sub, line) for line in lines]
        outcome.unbilled_charges.extend(created)
        record(state, "unbilled_charges_created", {"unbilled_charges": created})


def update_for_items(state: ChargebeeState, sub_id: str, params: dict) -> tuple[dict, Outcome]:
    sub = get_subscription(state, sub_id)
    if sub["status"] not in ("active", "non_renewing", "in_trial"):
        raise invalid_state(f"The subscription is {sub['status']}; it cannot be changed.")
    scheduled = at_term_end(params)
    if scheduled and p.integer(params, "changes_scheduled_at") is not None:
        raise wrong_value("changes_scheduled_at", "changes_scheduled_at : can only be passed with "
                                                  "change_option=specific_date")
    at, backdated = (sub["_term_end_ms"], False) if scheduled else effective_at(state, sub, params)
    for name in UNSUPPORTED_UPDATE_PARAMS:
        if name in params:
            raise wrong_value(name, f"{name} is not supported by the sandbox")
    if p.boolean(params, "force_term_reset", False):
        raise wrong_value("force_term_reset", "force_term_reset=true is not supported by the sandbox")
    prorate_param = p.boolean(params, "prorate")
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
    old_plan, new_plan = _plan_of(state, sub["_items"]), _plan_of(state, new_items)
    term_reset = (old_plan["period"], old_plan["period_unit"]) != (new_plan["period"], new_plan["period_unit"])
    if term_reset and backdated:
        raise wrong_value("changes_scheduled_at", "changes_scheduled_at : a backdated change of billing period is "
                                                  "not modelled by the sandbox")
    if scheduled:
        return schedule_change(state, sub, new_items, entries, term_reset, meta, auto_collection), Outcome()
    drop_scheduled_change(sub)  # "With Ramps disabled, any existing scheduled change ... is deleted" (§2)
    items_changed = _item_keys(new_items) != _item_keys(sub["_items"])
    new_segments, unprorated = _change_segments(state, sub, new_items, at, prorate_param, term_reset)

    outcome = Outcome()
    suppress_credits = sub["_unprorated_change_in_term"]
    sub["_items"] = new_items
    if items_changed:
        sub["_last_item_change_ms"] = at
    if meta is not None:
        sub["meta_data"] = meta
    if auto_collection is not None:
        sub["auto_collection"] = auto_collection
    charge_lines = _revise_pending(state, sub, new_segments, outcome, suppress_credits) if new_segments else []
    if unprorated:
        sub["_unprorated_change_in_term"] = True
    if term_reset:
        _start_term(state, sub, at)
        charge_lines += [line(state, sub, seg) for seg in full_term_segments(state, sub)]
    charge_lines += one_off_lines(state, sub, entries, at if backdated else state.now_ms)
    _realize_charges(state, sub, charge_lines, invoice_immediately, outcome, recurring=term_reset)
    state.touch(sub)
    content = {"subscription": render_subscription(state, sub),
               "customer": render_customer(state, state.customers[sub["customer_id"]])}
    if outcome.invoice is not None:
        content["invoice"] = outcome.invoice
    if outcome.credit_notes:
        content["credit_notes"] = outcome.credit_notes
    if outcome.unbilled_charges:
        content["unbilled_charges"] = outcome.unbilled_charges
    record(state, "subscription_changed_with_backdating" if backdated else "subscription_changed", content)
    return sub, outcome


def schedule_change(state: ChargebeeState, sub: dict, new_items: list[dict], entries: list[dict], term_reset: bool,
                    meta: dict | None, auto_collection: str | None) -> dict:
    """``end_of_term``: the new items are kept and applied by the renewal at the term end
    (``has_scheduled_changes``); proration and unbilled-charge parameters do not apply to it (§2a,
    support art. 248268); ``meta_data``/``auto_collection`` "always take effect immediately" (§2). A
    new scheduled change replaces an earlier one ("any scheduled change will be overridden", §2)."""
    if term_reset:
        raise wrong_value("subscription_items[item_price_id][0]", "a scheduled change to a plan with another "
                          "billing period is not modelled by the sandbox")
    if any(e["_price"]["item_type"] == "charge" for e in entries):
        raise wrong_value("subscription_items[item_price_id][0]", "one-off charges in a scheduled change are not "
                          "modelled by the sandbox")
    sub["_scheduled_items"] = new_items
    sub["has_scheduled_changes"] = True
    sub["changes_scheduled_at"] = sub["_term_end_ms"] // 1000
    if meta is not None:
        sub["meta_data"] = meta
    if auto_collection is not None:
        sub["auto_collection"] = auto_collection
    state.touch(sub)
    record(state, "subscription_changes_scheduled", {"subscription": render_subscription(state, sub),
                                                     "customer": render_customer(state, state.customers[sub["customer_id"]])})
    return sub


def drop_scheduled_change(sub: dict) -> bool:
    if not sub.get("has_scheduled_changes"):
        return False
    sub.pop("_scheduled_items", None)
    sub.pop("changes_scheduled_at", None)
    sub["has_scheduled_changes"] = False
    return True


def _item_keys(items: list[dict]) -> list[tuple[str, int]]:
    return sorted((i["item_price_id"], i["quantity"]) for i in items)


def _change_segments(state: ChargebeeState, sub: dict, new_items: list[dict], at: int, prorate_param: bool | None,
                     term_reset: bool) -> tuple[list[Segment], bool]:
    """The signed segments a change from ``sub["_items"]`` to ``new_items`` at ``at`` creates, and
    whether some changed item went unprorated (for the SPEC's credit-suppression rule)."""
    prorate = state.settings.prorate if prorate_param is None else prorate_param
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

    segments: list[Segment] = []
    old_q = {i["item_price_id"]: billable(state.item_prices[i["item_price_id"]], i["quantity"]) for i in sub["_items"]}
    new_q = {i["item_price_id"]: billable(state.item_prices[i["item_price_id"]], i["quantity"]) for i in new_items}
    if term_reset:
        # The old term ends now: the unused rest of every old item is credited.
        for price_id, qty in old_q.items():
            if qty and prorate:
                segments.append(Segment(price_id, at, term_end, term_start, term_end, -qty))
        return segments, not prorate
    unprorated = False
    for price_id in sorted(old_q.keys() | new_q.keys()):
        delta = new_q.get(price_id, 0) - old_q.get(price_id, 0)
        if not delta:
            continue
        how = proration_for(price_id)
        if how == "none":
            unprorated = True
        else:
            start = term_start if how == "full_term" else at
            segments.append(Segment(price_id, start, term_end, term_start, term_end, delta))
    return segments, unprorated


def _revise_pending(state: ChargebeeState, sub: dict, new_segments: list[Segment], outcome: Outcome,
                    suppress_credits: bool) -> list[dict]:
    """Void the open unbilled charges, net them with ``new_segments``, issue the credits; the charge lines."""
    pending = [uc for uc in open_unbilled(state, sub["id"]) if uc.get("_segment") is not None]
    merged = consolidate([uc["_segment"] for uc in pending] + new_segments)
    for uc in pending:
        uc["is_voided"] = True
        uc["voided_at"] = state.now
        state.touch_unversioned(uc)
    outcome.voided = pending
    if pending:
        record(state, "unbilled_charges_voided", {"unbilled_charges": pending})
    credits = [line(state, sub, seg, credit=True) for seg in merged if seg.quantity < 0]
    charges = [line(state, sub, seg) for seg in merged if seg.quantity > 0]
    if credits and not suppress_credits:
        outcome.credit_notes = issue_credits(state, sub, credits)
    return charges


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
