"""``seatsync db``: a backup taken while events are being written is one consistent snapshot; restoring it
gives a database `reconcile` reads cleanly; status, migrate and restore refuse what they should."""

from __future__ import annotations

import json
import sqlite3
import threading

from click.testing import CliRunner

from adapter import store
from adapter.cli.main import cli
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.store import maintenance
from tests.reconcile.test_stripe import (  # noqa: F401  (world is a fixture)
    APRIL_1,
    APRIL_10,
    MAY_1,
    advance,
    iso,
    mirror,
    open_account,
    seat,
    world,
)

PAIRS = 2  # each load batch is two events: a backup holding one of them without the other is torn


def run(args, env):
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def load(database, catalog, stop: threading.Event, written: list[int]) -> None:
    """Write batches of seat events for unlinked accounts as fast as the store takes them."""
    db = store.open_db(database)
    try:
        n = 0
        while not stop.is_set():
            events = [{"id": f"load-{n}-{i}", "type": "seat.activated", "account": f"load-{n % 7}",
                       "occurred_at": iso(APRIL_10), "user": f"user-{n}-{i}"} for i in range(PAIRS)]
            record_events(db, parse_document({"events": events}, plans=catalog.plans, addons=catalog.addons))
            n += 1
            written[0] = n
    finally:
        db.close()


def test_a_backup_under_load_restores_to_a_database_reconcile_reads_cleanly(world, tmp_path):
    account = open_account(world, "standard-monthly", "standard-monthly", ["a", "b", "c"])
    advance(world, account, APRIL_10)
    seat(world, "standard-monthly", "d", APRIL_10)
    world.worker.run_once()
    advance(world, account, MAY_1 + 3600)
    mirror(world)
    env = {"SEATSYNC_DATABASE": str(world.settings.database), "SEATSYNC_MAPPINGS": str(world.settings.mappings)}

    stop, written = threading.Event(), [0]
    writer = threading.Thread(target=load, args=(world.settings.database, world.catalog, stop, written))
    writer.start()
    try:
        while written[0] < 20:  # the load is running before the backup starts
            threading.Event().wait(0.01)
        backup = tmp_path / "backups" / "seatsync.db"
        code, output = run(["db", "backup", str(backup)], env)
        at_backup_end = written[0]
        while written[0] < at_backup_end + 20:  # and goes on after it
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert code == 0, output
    assert "integrity ok" in output
    assert not (tmp_path / "backups" / ".seatsync.db.partial").exists()

    with sqlite3.connect(backup) as copy:
        loaded = copy.execute("SELECT COUNT(*) FROM product_events WHERE id LIKE 'load-%'").fetchone()[0]
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    with sqlite3.connect(world.settings.database) as live:
        total = live.execute("SELECT COUNT(*) FROM product_events WHERE id LIKE 'load-%'").fetchone()[0]
    assert 20 * PAIRS <= loaded < total  # a snapshot taken during the load, not before or after it
    assert loaded % PAIRS == 0  # whole transactions only

    # Restore as deploy/README.md says, into a fresh database path, then reconcile the restored world.
    restored = tmp_path / "restored" / "seatsync.db"
    restored_env = {**env, "SEATSYNC_DATABASE": str(restored)}
    code, output = run(["db", "restore", str(backup)], restored_env)
    assert code == 0, output
    code, output = run(["db", "status", "--format", "json"], restored_env)
    assert code == 0 and json.loads(output)["pending"] == []
    code, output = run(["reconcile", "--since", iso(APRIL_1), "--until", iso(MAY_1 + 86400), "--format", "json"],
                       restored_env)
    assert code in (0, 1), output  # 1: differences found (the unlinked load accounts below)
    summary = json.loads(output)["summary"]
    # The load's events name accounts that were never linked: reported as unlinked seats, nothing else.
    assert summary["accounts"] == 1 and set(summary["by_kind"]) <= {"unlinked_seats"}
    with sqlite3.connect(restored) as db:
        assert db.execute("SELECT COUNT(*) FROM product_events WHERE id LIKE 'load-%'").fetchone()[0] == loaded
        assert db.execute("SELECT COUNT(*) FROM mirror_invoices").fetchone()[0] >= 1


def test_status_shows_pending_migrations_and_migrate_applies_them(tmp_path):
    database = tmp_path / "seatsync.db"
    env = {"SEATSYNC_DATABASE": str(database)}
    assert run(["db", "status"], env)[0] == 2  # nothing there yet
    db = store.open_db(database, migrate=False)
    store.MIGRATIONS.apply(db, stop_before="0901_price_switches")
    db.close()
    declared = [m.name for m in store.MIGRATIONS._migrations]
    expected = declared[declared.index("0901_price_switches"):]  # that one and every later one
    code, output = run(["db", "status", "--format", "json"], env)
    assert code == 1 and json.loads(output)["pending"] == expected
    code, output = run(["db", "migrate"], env)
    assert code == 0 and f"applied {', '.join(expected)}" in output
    code, output = run(["db", "status"], env)
    assert code == 0 and "pending:  none" in output
    assert run(["db", "migrate"], env)[1].endswith("up to date\n")


def test_backup_never_overwrites_and_restore_refuses_what_is_not_a_sound_seatsync_database(tmp_path):
    database = tmp_path / "seatsync.db"
    store.open_db(database).close()
    env = {"SEATSYNC_DATABASE": str(database)}
    existing = tmp_path / "existing.db"
    existing.write_text("keep me")
    code, output = run(["db", "backup", str(existing)], env)
    assert code == 2 and "exists" in output and existing.read_text() == "keep me"

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    code, output = run(["db", "restore", str(garbage)], env)
    assert code == 2 and "not a sound database" in output

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    code, output = run(["db", "restore", str(other)], env)
    assert code == 2 and "not a seatsync database" in output

    newer = tmp_path / "newer.db"
    maintenance.backup(database, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('seatsync', '9999_future', '2030-01-01')")
    code, output = run(["db", "restore", str(newer)], env)
    assert code == 2 and "newer seatsync" in output
    assert maintenance.status(database).unknown == []  # the live database was not touched
