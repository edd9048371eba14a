"""``seatsync reconcile --store`` and ``--last`` (issue 11 item 2): a run stored on demand, and the last stored
run printed in the same formats without running anything; exit 3 while no run is stored."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adapter import store
from adapter.cli.main import cli
from tests.reconcile.test_report import APRIL_1, MAY_1, account, catalog, iso, lines_of  # noqa: F401
from tests.support.provisioning import REPO_MAPPINGS

WINDOW = ["--since", iso(APRIL_1), "--until", iso(MAY_1 + 86400)]


@pytest.fixture
def cli_env(tmp_path, monkeypatch, catalog):
    db = store.open_db(tmp_path / "seatsync.db")
    sub = account(db, catalog)
    account(db, catalog, name="calm")
    db.execute("UPDATE mirror_invoice_lines SET amount = amount + 50 WHERE id = ?", [lines_of(db, sub)[0]["id"]])
    monkeypatch.setenv("SEATSYNC_DATABASE", str(tmp_path / "seatsync.db"))
    monkeypatch.setenv("SEATSYNC_MAPPINGS", str(REPO_MAPPINGS))
    yield db
    db.close()


def invoke(*args):
    return CliRunner().invoke(cli, ["reconcile", *args])


def no_live_reconcile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("--last ran a reconcile")

    import adapter.reconcile
    import adapter.reconcile.report
    import adapter.reconcile.runs

    for module in (adapter.reconcile, adapter.reconcile.report, adapter.reconcile.runs):
        monkeypatch.setattr(module, "reconcile", refuse)


def test_last_without_a_stored_run_says_so_and_exits_3(cli_env, monkeypatch):
    no_live_reconcile(monkeypatch)
    result = invoke("--last")
    assert result.exit_code == 3
    assert "no reconcile run is stored yet" in result.stderr and "seatsync reconcile --store" in result.stderr
    assert result.stdout == ""


def test_store_then_last_prints_the_stored_run_in_each_format(cli_env, monkeypatch):
    live_json = json.loads(invoke(*WINDOW, "--format", "json").stdout)
    live_csv = invoke(*WINDOW, "--format", "csv").stdout
    stored = invoke(*WINDOW, "--store")
    assert stored.exit_code == 1, stored.output
    assert stored.stdout.startswith("run      1 (cli), finished ") and "wrong_amount" in stored.stdout
    assert [row["status"] for row in cli_env.query("SELECT status FROM reconcile_runs")] == ["done"]

    no_live_reconcile(monkeypatch)  # from here on nothing may run a reconcile
    table = invoke("--last")
    assert table.exit_code == 1  # the stored run's differences: the exit code of the run it was
    assert table.stdout.splitlines()[0].startswith("run      1 (cli), finished ")
    assert "found    1 differences, 0.50 USD at stake" in table.stdout and "wrong_amount" in table.stdout
    as_json = json.loads(invoke("--last", "--format", "json").stdout)
    assert as_json["run"]["id"] == 1 and as_json["run"]["trigger"] == "cli"
    assert as_json["run"]["totals"]["money_at_stake"] == {"USD": 50}
    assert {k: v for k, v in as_json.items() if k != "run"} == live_json
    assert invoke("--last", "--format", "csv").stdout == live_csv


def test_last_takes_only_format_and_store_takes_no_account_or_fix(cli_env):
    for args in (["--last", "--account", "acme"], ["--last", "--period", "2026-04"], ["--last", "--store"],
                 ["--last", "--tolerance", "3"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "--last" in result.stderr, args
    assert invoke("--store", "--account", "acme").exit_code == 2
    assert invoke("--store", "--fix").exit_code == 2


def test_store_refuses_while_another_run_holds_the_lease(cli_env):
    from adapter.clock import now_us

    store.begin_reconcile_run(cli_env, owner="worker-1", trigger="scheduled", now_us=now_us(), since_us=0,
                              until_us=1, tolerance=1, lease_us=3600 * 1_000_000)
    result = invoke(*WINDOW, "--store")
    assert result.exit_code == 2 and "another run holds the lease" in result.stderr and "worker-1" in result.stderr
