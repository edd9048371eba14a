"""``/ops/accounts`` (issue 14 item 3): every account, linked or not, searchable, paged on the server.

Paging is checked by what a page costs, not by a stopwatch: a page computes the sync view of the accounts
on it only, however many accounts match.
"""

from __future__ import annotations

import pytest

from tests.reconcile.test_stripe import APRIL_16, iso, send
from tests.webhooks.test_ops import (  # noqa: F401  (the ``faulty`` fixture)
    AUTH,
    app_for,
    faulty,
    world,  # noqa: F401
)


def get(world, query: str = "", fmt: str = "json"):
    return app_for(world).test_client().get(f"/ops/accounts?{query}&format={fmt}", headers=AUTH)


def test_every_linked_account_with_its_sync_and_its_net_money(faulty):
    data = get(faulty).get_json()
    assert [a["account"] for a in data["accounts"]] == ["healthy", "manual", "unpaid"] and data["total"] == 3
    rows = {a["account"]: a for a in data["accounts"]}
    assert {a["status"] for a in rows.values()} == {"in sync"}
    assert rows["healthy"]["billable"] == rows["healthy"]["pushed"] == rows["healthy"]["mirror"] == 4
    assert rows["manual"]["money_at_stake"] == {"USD": 1234} and rows["manual"]["receivables"] == {}
    assert rows["unpaid"]["receivables"] == {"USD": 3250} and rows["healthy"]["money_at_stake"] == {}


def test_search_is_a_literal_case_insensitive_part_of_the_name(faulty):
    assert [a["account"] for a in get(faulty, "q=NPA").get_json()["accounts"]] == ["unpaid"]
    assert get(faulty, "q=%25").get_json()["total"] == 0  # "%" is a character, not a wildcard
    assert get(faulty, "q=_").get_json()["total"] == 0


def test_pages_split_the_accounts_and_say_where_they_are(faulty):
    first, second = get(faulty, "size=25&page=1").get_json(), get(faulty, "size=25&page=2").get_json()
    assert len(first["accounts"]) == 3 and second["accounts"] == [] and second["total"] == 3
    html = get(faulty, "q=a", fmt="html").get_data(as_text=True)
    assert 'id="accounts"' in html and "1–3 of 3 accounts" in html and "page 1 of 1" in html


@pytest.mark.parametrize("query, field", [("size=7", "size"), ("page=0", "page"), ("page=x", "page")])
def test_bad_paging_is_a_problem_naming_the_field(faulty, query, field):
    response = get(faulty, query)
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == field


def test_never_linked_accounts_are_listed_from_the_stored_run(faulty):
    send(faulty, {"id": "typo-1", "type": "seat.activated", "account": "heathy", "occurred_at": iso(APRIL_16),
                  "user": "zed"})
    from adapter.reconcile import runs
    from tests.webhooks.test_ops import WORKER_NOW_US

    assert runs.run_and_store(faulty.db, faulty.catalog, trigger="cli", owner="test", since_us=0,
                              until_us=WORKER_NOW_US, now_us=lambda: WORKER_NOW_US) is not None
    data = get(faulty).get_json()
    rows = {a["account"]: a for a in data["accounts"]}
    assert data["total"] == 4 and rows["heathy"]["linked"] is False
    assert rows["heathy"]["status"].startswith("never linked")
    html = get(faulty, fmt="html").get_data(as_text=True)
    assert 'data-account="heathy" data-linked="no"' in html


def test_a_page_costs_the_accounts_on_it_not_all_of_them(faulty, monkeypatch):
    from adapter import accounts
    from webhooks import ops_accounts

    many = [accounts.link_event(f"bulk-{n:04d}", provider="stripe", subscription=f"sub_bulk_{n}",
                                plan="standard-monthly", timezone=None, at_us=APRIL_16 * 1_000_000)
            for n in range(300)]
    send(faulty, *many)
    computed = []
    real = ops_accounts.sync_view
    monkeypatch.setattr(ops_accounts, "sync_view", lambda *a: computed.append(a[2].account) or real(*a))
    data = get(faulty, "size=25&page=3").get_json()
    assert data["total"] == 303 and len(computed) == 25
    assert computed == [f"bulk-{n:04d}" for n in range(50, 75)]
    computed.clear()
    assert get(faulty, "q=bulk-01&size=200").get_json()["total"] == 100 and len(computed) == 100


def test_the_overview_lists_the_first_accounts_and_links_to_all_of_them(faulty):
    from adapter import accounts

    send(faulty, *[accounts.link_event(f"bulk-{n:04d}", provider="stripe", subscription=f"sub_bulk_{n}",
                                       plan="standard-monthly", timezone=None, at_us=APRIL_16 * 1_000_000)
                   for n in range(30)])
    html = app_for(faulty).test_client().get("/ops/", headers=AUTH).get_data(as_text=True)
    assert html.count('<tr class="account">') == 20 and "33 linked accounts; the first 20 by name" in html
    assert 'href="/ops/accounts"' in html
