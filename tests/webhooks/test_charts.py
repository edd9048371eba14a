"""Server-side SVG charts (issue 14 items 4, 5 and 7): what is drawn is the data it came from.

Unit tests check the geometry of the step and bar charts; the page tests load the ``faulty`` world's account
and reconciliation pages and check the three seat series against the ledger, seatsync's calls and the
mirror, and the money bars against the stored run's per-account totals.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from adapter import ledger
from tests.webhooks.test_ops import (  # noqa: F401  (the ``faulty`` fixture)
    AUTH,
    UNTIL,
    app_for,
    faulty,
    world,  # noqa: F401
)
from webhooks.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    Bar,
    Marker,
    Series,
    _y_ticks,
    bar_chart,
    step_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def points(element: ET.Element) -> list[tuple[int, int]]:
    return [(int(t), int(v)) for t, v in (p.split(":") for p in element.get("data-points", "").split(",") if p)]


def test_y_ticks_are_round_and_reach_the_top():
    assert _y_ticks(1) == [0, 1]
    assert _y_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert _y_ticks(11) == [0, 5, 10, 15]
    assert _y_ticks(1419)[-1] >= 1419 and len(_y_ticks(1419)) <= 7


def test_a_step_chart_holds_each_value_until_the_next_point():
    chart = parse(step_chart([Series("ledger", "ledger", ((0, 2), (50, 4)))], start_us=0, end_us=100,
                             markers=[Marker(50, "pro"), Marker(500, "outside")], tick_label=str, title="t"))
    assert chart.tag == SVG + "svg" and chart.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    (path,) = chart.iter(SVG + "path")
    plot_w = WIDTH - LEFT - RIGHT
    # y: 0..5 over the plot (ticks 0-5); 2 seats from x=LEFT to the middle, then 4 seats to the right edge.
    d = path.get("d")
    numbers = [float(n) for n in re.findall(r"[-\d.]+", d)]
    assert d.startswith("M ") and " H " in d and " V " in d
    assert numbers[0] == LEFT and numbers[2] == LEFT + plot_w / 2 and numbers[-1] == LEFT + plot_w
    assert numbers[1] > numbers[3]  # 4 seats are drawn higher (smaller y) than 2
    assert points(path) == [(0, 2), (50, 4)]
    markers = [g for g in chart.iter(SVG + "g") if g.get("class") == "marker"]
    assert [g.find(SVG + "text").text for g in markers] == ["pro"]  # the marker past the window is left out


def test_the_value_in_force_at_the_start_is_drawn_from_the_start():
    chart = parse(step_chart([Series("pushed", "p", ((-10, 3), (-5, 7), (60, 1)))], start_us=0, end_us=100,
                             tick_label=str, title="t"))
    (path,) = chart.iter(SVG + "path")
    first_y = float(path.get("d").split()[2])
    top_tick = _y_ticks(7)[-1]  # 8
    assert first_y == TOP + (HEIGHT - TOP - BOTTOM) * (1 - 7 / top_tick)  # starts at 7 (the value at 0), not 3


def test_labels_are_escaped():
    chart = step_chart([Series("ledger", "<script>", ((0, 1),))], start_us=0, end_us=1, tick_label=lambda _: "&",
                       title="a<b")
    assert "<script>" not in str(chart) and parse(chart) is not None


def test_bars_are_scaled_by_absolute_value_and_signed_by_class():
    chart = parse(bar_chart([Bar("a", 1000, "10.00 USD"), Bar("b", -500, "-5.00 USD")], title="t",
                            href=lambda name: f"/ops/accounts/{name}"))
    bars = {g.get("data-account"): g for g in chart.iter(SVG + "g")}
    width = {name: float(g.find(SVG + "rect").get("width")) for name, g in bars.items()}
    assert width["a"] == 2 * width["b"]
    assert "negative" in bars["b"].get("class") and "negative" not in bars["a"].get("class")
    assert bars["a"].find(f"{SVG}text/{SVG}a").get("href") == "/ops/accounts/a"


def svg_of(html: str, element_id: str) -> ET.Element:
    match = re.search(rf'<figure id="{element_id}">(<svg.*?</svg>)</figure>', html, re.S)
    assert match, f"no chart in #{element_id}"
    return parse(match.group(1))


def test_the_account_page_draws_the_ledger_the_pushes_and_the_mirror(faulty):
    world = faulty
    html = app_for(world).test_client().get(f"/ops/accounts/healthy?{UNTIL}", headers=AUTH).get_data(as_text=True)
    chart = svg_of(html, "seats-chart")
    series = {p.get("data-series"): points(p) for p in chart.iter(SVG + "path") if p.get("data-series")}
    assert set(series) == {"ledger", "pushed", "provider"}
    # Ledger: 3 seats from the link, 4 after d's activation, each point the ledger's count at that instant.
    assert [value for _, value in series["ledger"]] == [3, 4]
    for instant, value in series["ledger"]:
        assert ledger.seat_count(world.db, "healthy", instant) == value
    assert [value for _, value in series["pushed"]][-1] == 4  # the last quantity seatsync set
    assert series["provider"] and series["provider"][-1][1] == 4  # the mirror agrees
    assert "Europe" not in chart.find(SVG + "title").text  # healthy's plan is in UTC: ticks in its timezone


def test_the_reconciliation_page_draws_money_per_account(faulty, monkeypatch):
    from tests.webhooks.test_ops import no_full_reconcile

    no_full_reconcile(monkeypatch)
    client = app_for(faulty).test_client()
    report = client.get("/ops/reconciliation?format=json", headers=AUTH).get_json()
    html = client.get("/ops/reconciliation", headers=AUTH).get_data(as_text=True)
    expected = {(name, amount) for name, entry in report["summary"]["by_account"].items()
                for amount in entry["money_at_stake"].values() if amount}
    drawn = set()
    figures = re.findall(r'<figure class="money-chart" data-currency="\w+">(<svg.*?</svg>)<figcaption>', html, re.S)
    for figure in figures:
        drawn |= {(g.get("data-account"), int(g.get("data-value"))) for g in parse(figure).iter(SVG + "g")}
    assert drawn == expected and drawn
    assert 'id="by-account"' in html


def test_the_timeline_is_in_the_accounts_timezone_with_utc_on_hover(faulty):
    from webhooks.ops import _local

    april_1 = 1775001600 * 1_000_000  # 2026-04-01T00:00:00Z
    assert _local("Europe/Oslo")(april_1) == "2026-04-01 02:00:00 CEST"
    html = app_for(faulty).test_client().get(f"/ops/accounts/healthy?{UNTIL}", headers=AUTH).get_data(as_text=True)
    assert re.search(r"<th>when \(\w+; UTC on hover\)</th>", html)
    assert '<time datetime="2026-04-01T00:00:00Z" title="2026-04-01T00:00:00Z">2026-04-01 00:00:00 UTC</time>' in html


def test_every_kind_has_a_severity_and_the_unpaid_invoice_stands_out(faulty, monkeypatch):
    from adapter import reconcile
    from tests.webhooks.test_ops import no_full_reconcile
    from webhooks.severity import SEVERITY

    assert set(SEVERITY) == set(reconcile.KINDS)
    assert set(SEVERITY.values()) == {"receivable", "drift", "missing", "unexpected"}
    no_full_reconcile(monkeypatch)
    html = app_for(faulty).test_client().get("/ops/reconciliation", headers=AUTH).get_data(as_text=True)
    assert 'class="kind severity-receivable" data-severity="receivable">invoice_unpaid<' in html
    assert 'class="kind severity-unexpected" data-severity="unexpected">unexpected_line<' in html


def test_the_timeline_is_paged_on_the_page_and_whole_in_json(faulty):
    from tests.reconcile.test_stripe import APRIL_16, iso, send

    send(faulty, *[{"id": f"churn-{n}", "type": "seat.activated" if n % 2 == 0 else "seat.deactivated",
                    "account": "healthy", "occurred_at": iso(APRIL_16 + 60 * (n // 2 + 1)), "user": "churner"}
                   for n in range(150)])
    client = app_for(faulty).test_client()
    whole = client.get(f"/ops/accounts/healthy?{UNTIL}&format=json", headers=AUTH).get_json()["timeline"]
    assert len(whole) > 150
    first = client.get(f"/ops/accounts/healthy?{UNTIL}", headers=AUTH).get_data(as_text=True)
    last = client.get(f"/ops/accounts/healthy?{UNTIL}&tpage=2", headers=AUTH).get_data(as_text=True)
    assert first.count('<tr class="event"') == 100 and last.count('<tr class="event"') == len(whole) - 100
    assert f"events 1–100 of {len(whole)} (page 1 of 2)" in first and 'rel="next"' in first
    assert 'rel="prev"' in last and 'rel="next"' not in last
    bad = client.get(f"/ops/accounts/healthy?{UNTIL}&tpage=x", headers=AUTH)
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "tpage"
