from adapter.store import MIGRATIONS, open_db, schema_version


def test_file_database_is_wal_and_fully_synchronous(tmp_path):
    db = open_db(tmp_path / "s.db")
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert db.execute("pragma synchronous").fetchone()[0] == 2  # FULL


def test_migrations_are_idempotent(tmp_path):
    path = tmp_path / "s.db"
    first = schema_version(open_db(path))
    second = schema_version(open_db(path))
    assert first == second == [m.name for m in MIGRATIONS._migrations]


def test_every_earlier_version_migrates_to_the_latest(tmp_path):
    """Stop before each migration in turn, then open normally: the result equals a fresh database."""
    names = [m.name for m in MIGRATIONS._migrations]
    fresh = open_db(tmp_path / "fresh.db")
    expected = {t.name: t.schema for t in fresh.tables if not t.name.startswith("_")}
    for index, name in enumerate(names):
        path = tmp_path / f"v{index}.db"
        db = open_db(path, migrate=False)
        MIGRATIONS.apply(db, stop_before=name)
        assert schema_version(db) == names[:index]
        db.close()
        upgraded = open_db(path)
        assert schema_version(upgraded) == names
        assert {t.name: t.schema for t in upgraded.tables if not t.name.startswith("_")} == expected


def test_reconcile_runs_migrate_onto_the_previous_version(tmp_path):
    """A database of the version before stored reconcile runs, with rows: opening it adds the two tables and
    keeps what was there; a run can then be begun, written and finished."""
    path = tmp_path / "old.db"
    old = open_db(path, migrate=False)
    MIGRATIONS.apply(old, stop_before="0920_reconcile_runs")
    old.execute("INSERT INTO sync_state (account, ledger_version) VALUES ('acme', 3)")
    assert "reconcile_runs" not in old.table_names()
    old.close()
    db = open_db(path)
    assert "0920_reconcile_runs" in schema_version(db)
    assert db.execute("SELECT ledger_version FROM sync_state WHERE account = 'acme'").fetchone()[0] == 3
    from adapter import store

    run = store.begin_reconcile_run(db, owner="w", trigger="scheduled", now_us=10, since_us=0, until_us=10,
                                    tolerance=1, lease_us=100)
    assert run is not None
    store.add_reconcile_differences(db, run, "w", [("acme", "seat_drift", "d", 500, "USD", *[None] * 9, "[]")],
                                    now_us=11, lease_us=100)
    store.finish_reconcile_run(db, run, "w", now_us=12, until_us=10, counts={
        "accounts": 1, "invoices": 0, "lines": 0, "actual_lines": 0, "differences": 1},
        totals={"by_kind": {"seat_drift": 1}}, errors=[])
    assert store.reconcile_run(db, run)["totals"] == {"by_kind": {"seat_drift": 1}}
    assert [row["money_at_stake"] for row in store.reconcile_run_differences(db, run)] == [500]
