"""Issue 13 item 7: every request of an end-to-end scenario (the scripted month of each seed article on both
providers, then backfill) fits the parameter types the official SDKs declare: stripe-python's
``stripe.params`` TypedDicts and chargebee-python's ``*Params`` TypedDicts, checked on the requests as the
sandbox received them (tests/support/declared.py), not on what seatsync meant to send."""

from __future__ import annotations

import pytest

from adapter.callbacks import backfill
from tests.e2e.test_sync_matrix import POLICIES, PROVIDERS, make_harness
from tests.support import declared
from tests.support import scenarios as S


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("policy", POLICIES)
def test_every_request_of_a_scripted_month_fits_the_sdks_declared_params(policy, provider, tmp_path, sandbox,
                                                                         request):
    with declared.Recorder(sandbox.app) as recorder:
        harness = make_harness(provider, policy, tmp_path, sandbox, request)
        S.run(harness, S.month_script(policy))
        for _ in backfill.run(harness.db, harness.settings, harness.provider):
            pass
    check = declared.stripe_problems if provider == "stripe" else declared.chargebee_problems
    problems = [problem for sent in recorder.requests for problem in check(sent)]
    assert problems == []
    # The scenario did reach the provider: seat updates and the backfill's lists were among them.
    paths = {str(r) for r in recorder.requests}
    update = "POST /v1/subscription_items/" if provider == "stripe" else "/update_for_items"
    assert any(update in p for p in paths), sorted(paths)
    lists = "GET /v1/invoices" if provider == "stripe" else "GET /api/v2/unbilled_charges"
    assert lists in paths


def request_of(method, path, **params):
    return declared.Request(method, path, list(params.items()))


def test_the_checks_refuse_what_the_issue_found_real_providers_would_refuse():
    """The four shapes of issue 13, and the kinds of mistake the walk must see, on requests built by hand."""
    cb, st = declared.chargebee_problems, declared.stripe_problems
    # Chargebee: is_voided is a plain boolean, not an is_voided[is] filter.
    assert cb(request_of("GET", "/api/v2/unbilled_charges", **{"is_voided": "true"})) == []
    assert cb(request_of("GET", "/api/v2/unbilled_charges", **{"is_voided[is]": "true"}))
    assert cb(request_of("GET", "/api/v2/unbilled_charges", **{"is_voided": "maybe"}))
    # Chargebee: an item price needs its name.
    price = {"id": "p", "item_id": "i", "pricing_model": "per_unit", "price": "1000", "period": "1",
             "period_unit": "month"}
    [missing] = cb(request_of("POST", "/api/v2/item_prices", **price))
    assert "'name'" in missing
    assert cb(request_of("POST", "/api/v2/item_prices", name="Seat", **price)) == []
    # Required fields inside list items and Literal values.
    assert cb(request_of("POST", "/api/v2/subscriptions/s/update_for_items",
                         **{"subscription_items[quantity][0]": "3"}))
    assert cb(request_of("POST", "/api/v2/subscriptions/s/update_for_items",
                         **{"subscription_items[item_price_id][0]": "p", "subscription_items[quantity][0]": "3",
                            "prorate": "true"})) == []
    assert st(request_of("POST", "/v1/subscription_items/si_1", quantity="3",
                         proration_behavior="create_prorations", proration_date="1700000000")) == []
    assert st(request_of("POST", "/v1/subscription_items/si_1", quantity="three"))
    assert st(request_of("POST", "/v1/subscription_items/si_1", seats="3"))
    [no_currency] = st(request_of("POST", "/v1/prices", product="prod_1", unit_amount="1000"))
    assert "'currency'" in no_currency
    assert st(request_of("POST", "/v1/subscriptions", **{"items[0][quantity]": "x"}))
    assert st(request_of("POST", "/v1/subscriptions", **{"items[0][quantity]": "1", "customer": "cus_1"})) == []
    assert st(request_of("GET", "/v1/unheard_of"))
    assert st(request_of("POST", "/v1/subscriptions/sub_1", **{"metadata[seatsync_account]": "a"})) == []
