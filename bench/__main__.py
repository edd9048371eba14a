"""``python -m bench``: run the intake benchmark and write bench/results/intake.json."""

import argparse
import json
from pathlib import Path

from bench.intake import run_intake

RESULTS = Path(__file__).resolve().parent / "results" / "intake.json"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--count", type=int, default=3000, help="measured events per server (default 3000)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations bare/seatsync (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    result = run_intake(count=args.count, concurrency=args.concurrency, rounds=args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
