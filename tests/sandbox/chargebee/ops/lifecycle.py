"""Scheduled changes, cancellation, pause, resume and reactivation (chargebee-python 3 ``Subscription``
operations and enums; reference chargebee.md §2, §2a, §8 point 6).

- Scheduled changes: ``update_for_items`` with ``change_option=end_of_term`` (or the deprecated
  ``end_of_term=true``) is kept (``has_scheduled_changes``, ``changes_scheduled_at``, event
  ``subscription_changes_scheduled``) and applied by the renewal at the term end (ops/subscriptions.py,
  ops/renewals.py); ``retrieve_with_scheduled_changes`` shows the subscription as it will be;
  ``remove_scheduled_changes`` drops it (``subscription_scheduled_changes_removed``); an immediate
  change deletes it ("With Ramps disabled, any existing scheduled change on the subscription is
  deleted", §2).
- ``cancel_for_items``: ``cancel_option`` immediately | end_of_term | specific_date (+ ``cancel_at``),
  or the deprecated ``end_of_term``; ``credit_option_for_current_term_charges`` none | prorate | full;
  ``unbilled_charges_option`` invoice | delete. Now: status ``cancelled`` (``subscription_cancelled``);
  later: ``non_renewing`` until then (``subscription_cancellation_scheduled``), no renewal.
- ``pause``: ``pause_option`` immediately | end_of_term | specific_date (+ ``pause_date``), optional
  ``resume_date``; status ``paused`` (``subscription_paused``) or a scheduled pause
  (``subscription_pause_scheduled``); a paused subscription does not renew.
- ``resume``: ``resume_option`` immediately | specific_date (+ ``resume_date``), ``charges_handling``
  invoice_immediately | add_to_unbilled_charges (``subscription_resumed``). ``reactivate``: a cancelled
  subscription starts again now (``subscription_reactivated``).

Sandbox readings, all UNVERIFIED: defaults ``credit_option_for_current_term_charges=none`` and
``unbilled_charges_option=invoice`` (Chargebee takes them from site settings); a prorated
cancellation credits each item's quantity over the rest of the term, less the open charges it
deletes; at a scheduled cancellation open unbilled charges are invoiced; a resumed or reactivated
subscription starts a new term at that instant, billed in full; pausing credits nothing; retrieve
and remove without a scheduled change answer 400 ``invalid_request``; declared options the sandbox
does not model (``end_of_billing_term``, ``billing_cycles``, ``consumption_based``, contract terms,
receivables/refund handling, trials, ``invoice_date``) are refused with ``param_wrong_value``.
"""

from __future__ import annotations

from .. import params as p
from ..errors import ChargebeeError, invalid_state, missing, wrong_value
from .credits import issue_credits
from .events import record
from .lines import full_term_segments, line, open_unbilled
from .render import render_customer, render_subscription
from .renewals import invoice_unbilled, renew
from .subscriptions import (Outcome, _realize_charges, _start_term, drop_scheduled_change,
                                                       get_subscription)
from ..proration import Segment, consolidate
from ..state import ChargebeeState
from ..terms import align_start

# Declared by chargebee-python but not modelled: refused when set to anything but their no-op value.
UNMODELLED = {"cancel": ("account_receivables_handling", "refundable_credits_handling", "contract_term_cancel_option",
                         "invoice_date", "subscription_items", "include_cancellation_day_in_billing", "decommissioned"),
              "pause": ("invoice_dunning_handling", "skip_billing_cycles"),
              "resume": ("unpaid_invoices_handling", "payment_initiator", "payment_intent"),
              "reactivate": ("trial_end", "billing_cycles", "trial_period_days", "reactivate_from",
                             "billing_alignment_mode", "terms_to_charge", "invoice_date", "contract_term",
                             "contract_term_billing_cycle_on_renewal", "payment_initiator", "statement_descriptor",
                             "payment_intent")}
NO_OP = {"account_receivables_handling": "no_action", "refundable_credits_handling": "no_action",
         "unpaid_invoices_handling": "no_action", "invoice_dunning_handling": "continue"}


def _refuse_unmodelled(params: dict, operation: str) -> None:
    for name in UNMODELLED[operation]:
        if name in params and params[name] != NO_OP.get(name, object()):
            raise wrong_value(name, f"{name} is not supported by the sandbox")


def _body(state: ChargebeeState, sub: dict) -> dict:
    return {"subscription": render_subscription(state, sub),
            "customer": render_customer(state, state.customers[sub["customer_id"]])}


def _future(state: ChargebeeState, params: dict, name: str, *, latest_ms: int | None = None) -> int:
    """A required unix-seconds parameter later than now (and not after ``latest_ms``), in ms."""
    value = p.integer(params, name)
    if value is None:
        raise missing(name)
    if value * 1000 <= state.now_ms or (latest_ms is not None and value * 1000 > latest_ms):
        raise wrong_value(name, f"{name} : must be in the future" + ("" if latest_ms is None else
                                                                    " and within the current term"))
    return value * 1000


# scheduled changes -------------------------------------------------------------------------------


def with_scheduled_changes(state: ChargebeeState, sub_id: str) -> dict:
    sub = get_subscription(state, sub_id)
    if not sub.get("has_scheduled_changes"):
        raise ChargebeeError(400, "invalid_request", "The subscription has no scheduled changes.")
    shown = render_subscription(state, {**sub, "_items": sub["_scheduled_items"]})
    return {"subscription": shown, "customer": render_customer(state, state.customers[sub["customer_id"]],
                                                               refresh=False)}


def remove_scheduled_changes(state: ChargebeeState, sub_id: str) -> dict:
    sub = get_subscription(state, sub_id)
    if not drop_scheduled_change(sub):
        raise ChargebeeError(400, "invalid_request", "The subscription has no scheduled changes.")
    state.touch(sub)
    record(state, "subscription_scheduled_changes_removed", _body(state, sub))
    return sub


# cancellation ------------------------------------------------------------------------------------


def cancel_for_items(state: ChargebeeState, sub_id: str, params: dict) -> tuple[dict, Outcome]:
    sub = get_subscription(state, sub_id)
    if sub["status"] not in ("active", "non_renewing", "paused"):
        raise invalid_state(f"The subscription is {sub['status']}; it cannot be cancelled.")
    _refuse_unmodelled(params, "cancel")
    option = p.string(params, "cancel_option", choices=("immediately", "end_of_term", "specific_date",
                                                        "end_of_billing_term"))
    if option == "end_of_billing_term":
        raise wrong_value("cancel_option", "cancel_option end_of_billing_term (contract terms) is not supported "
                                           "by the sandbox")
    if option is None:
        option = "end_of_term" if p.boolean(params, "end_of_term", False) else "immediately"
    credit = p.string(params, "credit_option_for_current_term_charges", "none",
                      choices=("none", "prorate", "full", "consumption_based"))
    if credit == "consumption_based":
        raise wrong_value("credit_option_for_current_term_charges", "consumption_based is not supported by the "
                                                                    "sandbox")
    unbilled = p.string(params, "unbilled_charges_option", "invoice", choices=("invoice", "delete"))
    if p.integer(params, "cancel_at") is not None and option != "specific_date":
        raise wrong_value("cancel_at", "cancel_at : can only be passed with cancel_option=specific_date")
    reason = p.string(params, "cancel_reason_code")
    if reason is not None:
        sub["cancel_reason_code"] = reason
    outcome = Outcome()
    if option == "immediately":
        _cancel(state, sub, state.now_ms, credit, unbilled, outcome)
        return sub, outcome
    at = sub["_term_end_ms"] if option == "end_of_term" else \
        _future(state, params, "cancel_at", latest_ms=sub["_term_end_ms"])
    sub.update(status="non_renewing", _cancel_at_ms=at, _cancel_options=(credit, unbilled),
               cancelled_at=at // 1000, cancel_schedule_created_at=state.now)
    state.touch(sub)
    record(state, "subscription_cancellation_scheduled", _body(state, sub))
    return sub, outcome


def _cancel(state: ChargebeeState, sub: dict, at: int, credit: str, unbilled: str, outcome: Outcome, *,
            source: str = "api") -> None:
    pending = open_unbilled(state, sub["id"])
    deleted_segments: list[Segment] = []
    if pending and unbilled == "invoice":
        outcome.invoice = invoice_unbilled(state, sub)
    elif pending:
        for uc in pending:
            uc["deleted"] = True
            state.touch_unversioned(uc)
            if uc.get("_segment") is not None:
                deleted_segments.append(uc["_segment"])
        record(state, "unbilled_charges_deleted", {"unbilled_charges": pending}, source=source)
    if credit != "none" and sub["status"] != "paused" and at < sub["_term_end_ms"]:
        start = sub["_term_start_ms"] if credit == "full" else align_start(at, state.settings.billing_mode,
                                                                            state.settings.timezone)
        segments = [Segment(seg.item_price_id, start, seg.to_ms, seg.term_start_ms, seg.term_end_ms, -seg.quantity)
                    for seg in full_term_segments(state, sub)]
        # What the deleted charges stood for was never billed, so it is not credited either.
        segments += [Segment(s.item_price_id, max(s.from_ms, start), s.to_ms, s.term_start_ms, s.term_end_ms,
                             s.quantity) for s in deleted_segments if s.to_ms > start]
        lines = [line(state, sub, seg, credit=True) for seg in consolidate(segments) if seg.quantity < 0]
        outcome.credit_notes = issue_credits(state, sub, lines)
    drop_scheduled_change(sub)
    sub.update(status="cancelled", cancelled_at=at // 1000)
    for key in ("_cancel_at_ms", "_cancel_options", "_pause_at_ms", "_resume_at_ms"):
        sub.pop(key, None)
    state.touch(sub)
    record(state, "subscription_cancelled", _body(state, sub), source=source)


# pause and resume --------------------------------------------------------------------------------


def pause(state: ChargebeeState, sub_id: str, params: dict) -> tuple[dict, Outcome]:
    sub = get_subscription(state, sub_id)
    if sub["status"] != "active":
        raise invalid_state(f"The subscription is {sub['status']}; only an active subscription can be paused.")
    _refuse_unmodelled(params, "pause")
    option = p.string(params, "pause_option", "immediately",
                      choices=("immediately", "end_of_term", "specific_date", "billing_cycles"))
    if option == "billing_cycles":
        raise wrong_value("pause_option", "pause_option billing_cycles is not supported by the sandbox")
    handling = p.string(params, "unbilled_charges_handling", "no_action", choices=("no_action", "invoice"))
    at = {"immediately": state.now_ms, "end_of_term": sub["_term_end_ms"]}.get(option) or \
        _future(state, params, "pause_date", latest_ms=sub["_term_end_ms"])
    resume_at = _future(state, params, "resume_date") if p.integer(params, "resume_date") is not None else None
    if resume_at is not None and resume_at <= at:
        raise wrong_value("resume_date", "resume_date : must be after the pause date")
    outcome = Outcome()
    if handling == "invoice" and open_unbilled(state, sub["id"]):
        outcome.invoice = invoice_unbilled(state, sub)
    sub.update(pause_date=at // 1000, _resume_at_ms=resume_at)
    if resume_at is not None:
        sub["resume_date"] = resume_at // 1000
    if option == "immediately":
        _pause_now(state, sub, at)
    else:
        sub["_pause_at_ms"] = at
        state.touch(sub)
        record(state, "subscription_pause_scheduled", _body(state, sub))
    return sub, outcome


def _pause_now(state: ChargebeeState, sub: dict, at: int, *, source: str = "api") -> None:
    sub.pop("_pause_at_ms", None)
    sub.update(status="paused", pause_date=at // 1000)
    state.touch(sub)
    record(state, "subscription_paused", _body(state, sub), source=source)


def resume(state: ChargebeeState, sub_id: str, params: dict) -> tuple[dict, Outcome]:
    sub = get_subscription(state, sub_id)
    if sub["status"] != "paused":
        raise invalid_state(f"The subscription is {sub['status']}; only a paused subscription can be resumed.")
    _refuse_unmodelled(params, "resume")
    option = p.string(params, "resume_option", "immediately", choices=("immediately", "specific_date"))
    handling = p.string(params, "charges_handling", "invoice_immediately",
                        choices=("invoice_immediately", "add_to_unbilled_charges"))
    outcome = Outcome()
    if option == "specific_date":
        sub["_resume_at_ms"] = _future(state, params, "resume_date")
        sub["resume_date"] = sub["_resume_at_ms"] // 1000
        sub["_resume_invoice"] = handling == "invoice_immediately"
        state.touch(sub)
        record(state, "subscription_resumption_scheduled", _body(state, sub))
        return sub, outcome
    _restart(state, sub, state.now_ms, handling == "invoice_immediately", outcome, "subscription_resumed")
    return sub, outcome


def _restart(state: ChargebeeState, sub: dict, at: int, invoice_now: bool, outcome: Outcome, event: str, *,
             source: str = "api") -> None:
    """Resume or reactivate at ``at``: a new term starts there and is billed in full (sandbox reading)."""
    for key in ("_resume_at_ms", "_resume_invoice", "_cancel_at_ms", "_cancel_options"):
        sub.pop(key, None)
    for key in ("pause_date", "resume_date", "cancelled_at", "cancel_schedule_created_at"):
        sub.pop(key, None)
    sub["status"] = "active"
    _start_term(state, sub, align_start(at, state.settings.billing_mode, state.settings.timezone))
    lines = [line(state, sub, seg) for seg in full_term_segments(state, sub)]
    _realize_charges(state, sub, lines, invoice_now, outcome, recurring=True)
    state.touch(sub)
    content = _body(state, sub)
    if outcome.invoice is not None:
        content["invoice"] = outcome.invoice
    record(state, event, content, source=source)


def reactivate(state: ChargebeeState, sub_id: str, params: dict) -> tuple[dict, Outcome]:
    sub = get_subscription(state, sub_id)
    if sub["status"] != "cancelled":
        raise invalid_state(f"The subscription is {sub['status']}; only a cancelled subscription can be "
                            "reactivated.")
    _refuse_unmodelled(params, "reactivate")
    outcome = Outcome()
    invoice_now = p.boolean(params, "invoice_immediately", state.settings.invoice_immediately)
    _restart(state, sub, state.now_ms, invoice_now, outcome, "subscription_reactivated")
    return sub, outcome


# the clock ---------------------------------------------------------------------------------------


def on_due(state: ChargebeeState, sub: dict, at: int) -> dict | None:
    """``travel_forward`` reached ``at``, the next thing due for ``sub`` (``state.next_due``)."""
    state.now_ms = max(state.now_ms, at)
    if sub["status"] == "non_renewing":
        credit, unbilled = sub["_cancel_options"]
        _cancel(state, sub, at, credit, unbilled, Outcome(), source="scheduled_job")
        return None
    if sub["status"] == "paused":
        outcome = Outcome()
        _restart(state, sub, at, sub.get("_resume_invoice", True), outcome, "subscription_resumed",
                 source="scheduled_job")
        return outcome.invoice
    if sub.get("_pause_at_ms") is not None and sub["_pause_at_ms"] <= at:
        _pause_now(state, sub, at, source="scheduled_job")
        return None
    return renew(state, sub)


__all__ = ["cancel_for_items", "on_due", "pause", "reactivate", "remove_scheduled_changes", "resume",
           "with_scheduled_changes"]
