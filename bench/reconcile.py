"""``python -m bench.reconcile N [N ...]``: reconciliation at N accounts against a raw scan of the same tables.

For each N: the database from bench/recon_world.py (one year of a Stripe and a Chargebee account built
through seatsync's own code, copied per account), then, each in a fresh process so that its peak RSS
(``resource.getrusage``) is its own:

- ``raw``: every row of the tables reconciliation reads, fetched once (the floor for a full run);
- ``full``: ``reconcile`` over the whole year, every account;
- ``account``: one account (the last copy), the whole year;
- ``month``: every account, one calendar month (``--period``).

Reported: seconds, peak RSS in MiB, differences found (must be 0: the template is clean), and the full
run's ratio to the raw scan measured in the same run. Results go to bench/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# The tables a full reconcile reads, for the raw scan.
SCANNED = ("accounts", "product_events", "seat_facts", "snapshots", "snapshot_users", "plan_facts", "addon_facts",
           "sync_state", "provider_calls", "mirror_subscriptions", "mirror_subscription_items", "mirror_invoices",
           "mirror_invoice_lines", "mirror_credit_notes", "mirror_pending_charges", "late_changes")
MONTH = "2025-10"


def _peak_mib() -> float:
    """``getrusage``'s peak RSS. Linux keeps ``ru_maxrss`` across fork and exec, so this is at least the
    parent's RSS when it started the child: an upper bound of the measurement's own peak."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _own_peak_mib() -> float | None:
    """The process image's own high-water mark (``VmHWM``, reset by exec): the measurement's peak alone."""
    try:
        for text in Path("/proc/self/status").read_text().splitlines():
            if text.startswith("VmHWM:"):
                return round(int(text.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def measure(what: str, info: dict) -> dict:
    """One measurement in this process (called by the parent through ``subprocess``)."""
    from adapter import reconcile, store
    from adapter.billing.policy import load_catalog

    db = store.open_db(info["database"])
    catalog = load_catalog(info["mappings"])
    started = time.monotonic()
    if what == "raw":
        rows = 0
        for table in SCANNED:
            for _ in db.conn.execute(f"SELECT * FROM {table}"):
                rows += 1
        result: dict = {"rows": rows}
    else:
        window = {"since_us": info["since_us"], "until_us": info["until_us"]}
        if what == "month":
            since_us, until_us = reconcile.month_window(MONTH)
            window = {"since_us": since_us, "until_us": until_us}
        account = info["one_account"] if what == "account" else None
        report = reconcile.reconcile(db, catalog, account=account, now_us=info["now_us"], **window)
        result = {"accounts": report.accounts, "differences": len(report.differences), "errors": len(report.errors),
                  "lines": report.lines}
    result["seconds"] = round(time.monotonic() - started, 3)
    result["peak_rss_mib"] = _peak_mib()
    result["own_peak_rss_mib"] = _own_peak_mib()
    db.close()
    return result


def _child(what: str, info_path: Path, timeout: float) -> dict:
    try:
        done = subprocess.run([sys.executable, "-m", "bench.reconcile", "--measure", what, str(info_path)],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"timeout_seconds": timeout}
    if done.returncode != 0:
        return {"failed": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes: list[int], *, timeout: float, keep: Path | None) -> dict:
    from bench.recon_world import TEMPLATE, build_template, replicate

    work = Path(tempfile.mkdtemp(prefix="bench-recon-"))
    try:
        template = build_template(work / "template")
        out: dict = {"template": "1 Stripe standard-monthly + 1 Chargebee konfidens-solo-monthly account, 10 users, "
                                 "96 seat events a year each", "month": MONTH, "runs": []}
        for n in sizes:
            database = work / f"n{n}.db"
            shutil.copy(template["database"], database)
            copied = replicate(str(database), n)
            info = {**template, "database": str(database),
                    "one_account": f"{TEMPLATE['stripe'][0]}~{max(n // 2, 1) - 1}" if n > 2 else TEMPLATE["stripe"][0]}
            info_path = work / f"n{n}.json"
            info_path.write_text(json.dumps(info))
            row: dict = {"accounts": n, "database": copied,
                         "database_mib": round(database.stat().st_size / 2**20, 1)}
            for what in ("raw", "full", "account", "month"):
                row[what] = _child(what, info_path, timeout)
                print(n, what, row[what], flush=True)
            if "seconds" in row["full"] and row["raw"].get("seconds"):
                row["full_over_raw"] = round(row["full"]["seconds"] / row["raw"]["seconds"], 1)
            out["runs"].append(row)
            if keep is not None:
                shutil.copy(database, keep / database.name)
            database.unlink()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[1000], help="accounts (default 1000)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per measurement before giving up")
    parser.add_argument("--out", type=Path, default=RESULTS / "reconcile.json")
    parser.add_argument("--keep", type=Path, default=None, help="copy each N's database into this directory")
    parser.add_argument("--measure", nargs=2, metavar=("WHAT", "INFO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        what, info_path = args.measure
        print(json.dumps(measure(what, json.loads(Path(info_path).read_text()))))
        return
    result = run(args.sizes, timeout=args.timeout, keep=args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
