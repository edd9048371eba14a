"""When a change takes effect: now (``change_option=immediately``) or backdated (``specific_date``).

Reference chargebee.md §2 (SPEC ``update_for_items``): ``change_option`` is ``immediately |
end_of_term | specific_date``; ``changes_scheduled_at`` (unix seconds) is required with
``specific_date``; ``specific_date`` is deprecated for future dates (ramps) and still serves
backdating. Backdating needs backdating enabled on the site; only changes to recurring
items/prices and additions of non-recurring items; status active, cancelled or non_renewing; on or
after ``current_term_start`` and after the last item change; the current day of the month must not
exceed the limit set for backdating. Backdated changes emit ``subscription_changed_with_backdating``.

How the sandbox reads each rule, and the error it answers (all 400, ``param`` =
``changes_scheduled_at``; the wording of every message is the sandbox's, UNVERIFIED):

- ``specific_date`` without ``changes_scheduled_at``: Chargebee's missing-parameter shape
  (``invalid_request``, ``param_required``); ``changes_scheduled_at`` with any other option:
  ``param_wrong_value`` (sandbox reading: it only means something with ``specific_date``).
- a future date: ``param_wrong_value`` (ramps are not modelled); "future" is later than the
  site's current second.
- the site setting off (``backdating_enabled``, default false): ``configuration_incompatible``.
- status other than active/cancelled/non_renewing: ``invalid_request``.
- before ``current_term_start`` (seconds, as the API shows it): ``param_wrong_value``.
- before the last item change: ``param_wrong_value``. Sandbox reading (UNVERIFIED) of "after the
  last item change": not before the effective instant of the last change to the subscription's
  items (creation counts, and so does a term reset); an equal instant is allowed. Changes made
  only to ``meta_data``/``auto_collection`` and one-off charges are not item changes.
- the day-of-month limit (``backdating_limit_day``): ``param_wrong_value``, see ``settings.py``.
- the only change the sandbox models that is neither a change to recurring items nor an addition
  of a non-recurring item's charge is a plan change to another billing period (a term reset); a
  backdated one is refused (``param_wrong_value``) as not modelled.

A backdated change takes effect at ``changes_scheduled_at`` (day-based billing mode: the start
of its local day), so prorations run from there; invoices, credit notes and unbilled charges are
still created now (document date now), their lines dated from the backdated instant.
"""

from __future__ import annotations

from .. import params as p
from ..errors import ChargebeeError, missing, wrong_value
from ..state import ChargebeeState
from ..terms import align_start, to_datetime

CHANGE_OPTIONS = ("immediately", "end_of_term", "specific_date")
BACKDATING_STATUSES = ("active", "cancelled", "non_renewing")
PARAM = "changes_scheduled_at"


def at_term_end(params: dict) -> bool:
    """``change_option=end_of_term``, or the deprecated ``end_of_term=true`` without a
    ``change_option`` ("change_option wins if both are passed", reference §2): a scheduled change."""
    change_option = p.string(params, "change_option", choices=CHANGE_OPTIONS)
    return change_option == "end_of_term" or (change_option is None and p.boolean(params, "end_of_term", False))


def effective_at(state: ChargebeeState, sub: dict, params: dict) -> tuple[int, bool]:
    """``(instant in ms, backdated?)`` at which the requested change takes effect (not at term end)."""
    change_option = p.string(params, "change_option", choices=CHANGE_OPTIONS)
    scheduled = p.integer(params, PARAM)
    if change_option != "specific_date":
        if scheduled is not None:
            raise wrong_value(PARAM, f"{PARAM} : can only be passed with change_option=specific_date")
        mode, tz = state.settings.billing_mode, state.settings.timezone
        return max(align_start(state.now_ms, mode, tz), sub["_term_start_ms"]), False
    if scheduled is None:
        raise missing(PARAM)
    return _backdated(state, sub, scheduled), True


def _backdated(state: ChargebeeState, sub: dict, scheduled: int) -> int:
    settings = state.settings
    if scheduled > state.now:
        raise wrong_value(PARAM, f"{PARAM} : is in the future; specific_date is deprecated for future dates in "
                                 "favour of ramps, which the sandbox does not model")
    if not settings.backdating_enabled:
        raise ChargebeeError(400, "configuration_incompatible", "Backdating is not enabled for this site.",
                             param=PARAM)
    if sub["status"] not in BACKDATING_STATUSES:
        raise ChargebeeError(400, "invalid_request", f"A {sub['status']} subscription's changes cannot be "
                                                     f"backdated (only {', '.join(BACKDATING_STATUSES)}).",
                             param=PARAM)
    term_start = sub["_term_start_ms"] // 1000
    if scheduled < term_start:
        raise wrong_value(PARAM, f"{PARAM} : cannot be before the current term start ({term_start})")
    at = max(align_start(scheduled * 1000, settings.billing_mode, settings.timezone), sub["_term_start_ms"])
    if at < sub["_last_item_change_ms"]:
        raise wrong_value(PARAM, f"{PARAM} : cannot be before the last change to the subscription's items "
                                 f"({sub['_last_item_change_ms'] // 1000})")
    limit = settings.backdating_limit_day
    if limit is not None:
        today, then = to_datetime(state.now_ms, settings.timezone), to_datetime(scheduled * 1000, settings.timezone)
        if (then.year, then.month) < (today.year, today.month) and today.day > limit:
            raise wrong_value(PARAM, f"{PARAM} : changes can be backdated into an earlier month only until day "
                                     f"{limit} of the month")
    return at
