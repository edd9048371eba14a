"""Issue 19 item 2: a switch to a plan of another interval (seed 000: "Can I pay annually instead of
monthly? Contact support"; seed 001 offers monthly and annual plans), end to end on both providers.

A Konfidens clinic with 5 users on Pro monthly (after one add) switches to Pro annual mid-month, a seat
is added 30 minutes later (within what used to dead-letter) and more seats change after it, through the
ledger, the worker and the sandbox via the official SDKs. The rule (mappings/konfidens.toml,
"interval switch"): the switch is immediate, the new term starts at the switch, the unused part of the
month is credited and the new year charged at once, on both providers (Chargebee used to leave the
year's fee unbilled for a year). Checked: no dead letters, the ledger's quantity on the annual price,
and the lines the engine (and so ``seatsync preview``) predicts.

NOT DONE (issue 19): reconcile of this run still reports differences (``test_..._reconciles`` is a
strict xfail, so it fails the day they are fixed). On both providers a seat change just after the switch
is snapped to the new term's start (the policy prorates per day from local midnight) and recorded as a
``late_change`` across the period; on Chargebee a credit note after it is not matched either. (The Stripe
sandbox used to date the switch's invoice at the proration date; an invoice is created by the call, so it
is now dated at the call, as the engine predicts, and the lines match to the second.)
"""

from __future__ import annotations

import pytest

from tests.e2e.test_sync_matrix import assert_money, assert_quantity, assert_reconciles, assert_settled, make_harness
from tests.support import scenarios as S

SWITCH = {"chargebee": {"switch": "konfidens-pro-monthly", "switch-upgrade": "konfidens-pro-annual"},
          "stripe": {"switch": "konfidens-pro-monthly-stripe", "switch-upgrade": "konfidens-pro-annual-stripe"}}
SCRIPT = S.Script("000-switch", "000", "switch", 5,
                  (S.Step(3, 10, add=1), S.Step(12, 14, plan="upgrade"), S.Step(12, 14.5, add=1),
                   S.Step(20, 11, remove=2), S.Step(34, 12, add=1)), end_day=39)


def switched(provider, tmp_path, sandbox, request, monkeypatch):
    monkeypatch.setitem(S.PLANS["000"], provider, {**S.PLANS["000"][provider], **SWITCH[provider]})
    harness = make_harness(provider, "000", tmp_path, sandbox, request)
    run = S.run(harness, SCRIPT)
    return harness, run


@pytest.mark.parametrize("provider", ("stripe", "chargebee"))
def test_monthly_to_annual_mid_month_bills_what_the_engine_predicts(provider, tmp_path, sandbox, request,
                                                                    monkeypatch):
    harness, run = switched(provider, tmp_path, sandbox, request, monkeypatch)
    assert_settled(harness, run)  # no dead letter for the seat added just after the switch
    assert_quantity(harness, SCRIPT)
    assert_money(harness, SCRIPT)  # the annual fee invoiced at the switch, line for line, dated as predicted


@pytest.mark.xfail(strict=True, reason="NOT DONE in issue 19: see the module docstring")
@pytest.mark.parametrize("provider", ("stripe", "chargebee"))
def test_monthly_to_annual_mid_month_reconciles(provider, tmp_path, sandbox, request, monkeypatch):
    harness, run = switched(provider, tmp_path, sandbox, request, monkeypatch)
    assert_money(harness, SCRIPT)
    assert_reconciles(harness, SCRIPT)
