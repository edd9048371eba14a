"""adapter.intake.parse.group_commit: concurrent calls share transactions; each caller sees only its own outcome."""

import threading

import pytest

from adapter.intake.group_commit import GroupCommitter
from adapter.store.connection import open_db


@pytest.fixture
def path(tmp_path):
    db = open_db(tmp_path / "g.db")
    db.execute("CREATE TABLE items (n INTEGER PRIMARY KEY)")
    db.close()
    return tmp_path / "g.db"


def committer(path):
    return GroupCommitter(lambda: open_db(path, migrate=False), lock_path=f"{path}-lock")


def insert(n):
    def work(db):
        db.execute("INSERT INTO items (n) VALUES (?)", [n])
        return n * 10
    return work


def test_results_return_after_commit_and_are_visible_to_other_connections(path):
    group = committer(path)
    assert group.run(insert(1)) == 10
    other = open_db(path, migrate=False)
    assert other.execute("SELECT n FROM items").fetchall() == [(1,)]


def test_many_threads_each_get_their_own_result(path):
    group = committer(path)
    results = {}

    def call(n):
        results[n] = group.run(insert(n))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n * 10 for n in range(200)}
    assert open_db(path, migrate=False).execute("SELECT COUNT(*) FROM items").fetchone()[0] == 200


def test_a_failing_call_is_rolled_back_alone_and_its_caller_gets_the_error(path):
    group = committer(path)
    barrier = threading.Barrier(3)
    outcomes = {}

    def failing(db):
        db.execute("INSERT INTO items (n) VALUES (99)")
        raise ValueError("nope")

    def call(name, work):
        barrier.wait()
        try:
            outcomes[name] = group.run(work)
        except ValueError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=call, args=args)
               for args in (("a", insert(1)), ("bad", failing), ("b", insert(2)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["a"] == 10 and outcomes["b"] == 20
    assert isinstance(outcomes["bad"], ValueError)
    assert open_db(path, migrate=False).execute("SELECT n FROM items ORDER BY n").fetchall() == [(1,), (2,)]


def test_no_call_is_stranded_under_sustained_load(path):
    """Waves of threads, each wave started while the previous one commits: every call returns."""
    group = committer(path)
    done = []

    def call(n):
        done.append(group.run(insert(n)))

    threads = []
    for wave in range(10):
        threads += [threading.Thread(target=call, args=(wave * 50 + n,)) for n in range(50)]
        for thread in threads[-50:]:
            thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert sorted(done) == [n * 10 for n in range(500)]
