"""``python -m bench [intake|sync|all]``: run the benchmarks and write their results to bench/results/.

- ``intake``: signed seat events per second through gunicorn, seatsync vs a bare 202 endpoint.
- ``sync``: the 5,000-activation burst, accounts synced per second against the rate ceiling (paced vs
  unpaced in the same run), and the simulated-product workload at bench size (bench/sync.py).
"""

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _write(name: str, result: dict, out: Path | None) -> None:
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", choices=("intake", "sync", "all"), default="all")
    parser.add_argument("--count", type=int, default=3000, help="intake: measured events per server (default 3000)")
    parser.add_argument("--concurrency", type=int, default=16, help="intake: client threads (default 16)")
    parser.add_argument("--rounds", type=int, default=5, help="intake: alternations bare/seatsync (default 5)")
    parser.add_argument("--accounts", type=int, default=200, help="sync: accounts for the Stripe rate ceiling "
                        "(Chargebee: half, at least 6; default 200)")
    parser.add_argument("--workload-accounts", type=int, default=6, help="sync: accounts per policy and provider")
    parser.add_argument("--days", type=int, default=365, help="sync: days of simulated churn (default 365)")
    parser.add_argument("--out", type=Path, default=None, help="results file (one benchmark only)")
    args = parser.parse_args()
    if args.which in ("intake", "all"):
        from bench.intake import run_intake

        _write("intake", run_intake(count=args.count, concurrency=args.concurrency, rounds=args.rounds),
               args.out if args.which == "intake" else None)
    if args.which in ("sync", "all"):
        from bench.sync import run_sync

        _write("sync", run_sync(accounts=args.accounts, workload_accounts=args.workload_accounts, days=args.days),
               args.out if args.which == "sync" else None)


if __name__ == "__main__":
    main()
