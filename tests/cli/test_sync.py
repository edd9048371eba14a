"""`seatsync dead-letters` and `seatsync worker --once` through click."""

import json

from click.testing import CliRunner

from adapter import store
from adapter.cli.main import cli


def env(settings):
    return {"SEATSYNC_DATABASE": str(settings.database), "SEATSYNC_MAPPINGS": str(settings.mappings),
            "SEATSYNC_PRODUCT_SECRETS": settings.product_secrets[0]}


def test_dead_letters_list_and_retry(settings, db):
    store.mark_accounts_dirty(db, ["acme"], now_us=0)
    letter = store.dead_letter_read(db, "acme", "sub_gone", operation="stripe.read_subscription",
                                    code="resource_missing", status=404, reason="No such subscription: 'sub_gone'",
                                    request_id="req_1", now_us=1_000_000)
    runner = CliRunner()
    listed = runner.invoke(cli, ["dead-letters", "list", "--format", "json"], env=env(settings))
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["id"], row["account"], row["status"], row["code"]) == (letter, "acme", 404, "resource_missing")
    table = runner.invoke(cli, ["dead-letters", "list"], env=env(settings))
    assert "No such subscription" in table.output and "stripe.read_subscription" in table.output

    retried = runner.invoke(cli, ["dead-letters", "retry", str(letter)], env=env(settings))
    assert retried.exit_code == 0 and "acme is due again" in retried.output
    assert runner.invoke(cli, ["dead-letters", "list"], env=env(settings)).output.strip() == "no dead letters"
    again = runner.invoke(cli, ["dead-letters", "retry", str(letter)], env=env(settings))
    assert again.exit_code == 1 and "no open dead letter" in again.output


def test_worker_once_on_an_unlinked_account_marks_it_synced(settings, db):
    store.mark_accounts_dirty(db, ["nobody"], now_us=0)
    result = CliRunner().invoke(cli, ["worker", "--once", "--delay", "0"], env=env(settings))
    assert result.exit_code == 0, result.output
    assert "nobody: 0 sent, 0 dead-lettered" in result.output
    state = store.sync_state(db, "nobody")
    assert state["synced_version"] == state["ledger_version"]


def test_a_killed_workers_account_is_taken_over_within_the_lease(settings, db):
    """Issue 12: a worker killed while it holds an account (it never releases the lease) delays that account by
    at most the lease (15 s by default, `seatsync worker --lease`), not a fixed 120 s."""
    from adapter.sync.worker import Worker, WorkerConfig

    t0 = 1_800_000_000_000_000
    store.mark_accounts_dirty(db, ["nobody"], now_us=t0)
    config = WorkerConfig(coalesce_delay=0, threads=1)
    assert config.lease == 15.0
    [claim] = store.claim_due_accounts(db, "killed", t0, delay_us=0, lease_us=int(config.lease * 1_000_000))
    assert claim["account"] == "nobody"
    clock = [t0 + 14 * 1_000_000]
    healthy = Worker(settings, providers={}, config=config, owner="healthy", now_us=lambda: clock[0])
    assert healthy.run_once() == []  # the killed worker's lease still holds
    clock[0] = t0 + 15 * 1_000_000 + 1
    assert [outcome.account for outcome in healthy.run_once()] == ["nobody"]


def test_worker_lease_option_is_validated():
    result = CliRunner().invoke(cli, ["worker", "--once", "--lease", "1"])
    assert result.exit_code == 2 and "--lease" in result.output
