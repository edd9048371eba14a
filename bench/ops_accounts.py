"""``python -m bench.ops_accounts N [N ...]``: the ops accounts page at N accounts (issue 14 item 3).

For each N: the database of bench/recon_world.py (a year of a Stripe and a Chargebee account built through
seatsync's own code, copied per account), then, through the Flask app (no network), the median of 5 of:

- ``scan``: every row of ``accounts`` fetched once (the floor);
- ``unpaged``: the sync view of every account, as a page without server-side paging (and ``seatsync accounts
  list``) computes it: the baseline the pages are compared with, in the same run (measured once);
- ``first``: page 1 (50 accounts) as HTML;
- ``middle``: the middle page as HTML;
- ``search``: a search that matches about a tenth of the accounts, page 1, as JSON.

Reported: milliseconds, and each page's ratio to the unpaged baseline. A page should cost about the same at
every N (paging on the server) while the baseline grows with N. Results go to bench/results/ops_accounts.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-ops-token-0123456789"


def _median_ms(call, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def measure(database: Path, mappings: str, accounts: int) -> dict:
    from adapter import accounts as accounts_
    from adapter import store
    from adapter.billing.policy import load_catalog
    from adapter.clock import now_us
    from adapter.config import Settings
    from adapter.sync.view import sync_view
    from webhooks import create_app

    settings = Settings(database=database, mappings=Path(mappings), ops_token=TOKEN,
                        product_secrets=("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",))
    client = create_app(settings).test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    db = store.open_db(database)
    catalog, at_us = load_catalog(mappings), now_us()

    def page(query: str) -> None:
        response = client.get(f"/ops/accounts?{query}", headers=auth)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]

    middle = max(1, accounts // 50 // 2)
    row = {"accounts": accounts,
           "scan_ms": _median_ms(lambda: list(db.query("SELECT * FROM accounts"))),
           "unpaged_ms": _median_ms(lambda: [sync_view(db, catalog, link, at_us)
                                             for link in accounts_.all_accounts(db)], repeat=1),
           "first_ms": _median_ms(lambda: page("format=html")),
           "middle_ms": _median_ms(lambda: page(f"format=html&page={middle}")),
           "search_ms": _median_ms(lambda: page("format=json&q=~1"))}
    for name in ("first", "middle", "search"):
        row[f"{name}_over_unpaged"] = round(row[f"{name}_ms"] / row["unpaged_ms"], 4)
    return row


def run(sizes: list[int]) -> dict:
    from bench.recon_world import build_template, replicate

    work = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    try:
        template = build_template(work / "template")
        out: dict = {"template": "bench/recon_world.py: a year of 1 Stripe + 1 Chargebee account, copied", "runs": []}
        for n in sizes:
            database = work / f"n{n}.db"
            shutil.copy(template["database"], database)
            replicate(str(database), n)
            row = measure(database, template["mappings"], n)
            print(json.dumps(row), flush=True)
            out["runs"].append(row)
            database.unlink()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ops_accounts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    args = parser.parse_args()
    result = run(args.sizes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ops_accounts.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
