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
