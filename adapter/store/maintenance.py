"""``seatsync db``: the schema's state, migrating it, and online backups and restores.

Backups go through SQLite's online backup API (``sqlite3.Connection.backup``): it copies a consistent
snapshot while the server and the worker keep writing (WAL readers never block writers),
so a backup needs no downtime and is never a half-written file. A copy of the database file with
``cp`` is not safe: committed transactions may still sit in ``-wal``.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from adapter.store.connection import BUSY_TIMEOUT_SECONDS
from adapter.store.migrations import MIGRATIONS

# The whole copy in one step (-1): SQLite restarts a stepwise backup whenever another connection writes
# to the source, so under steady load a stepwise backup of a large database might never finish. In WAL
# mode one step is one read transaction, which never blocks the writers.
BACKUP_PAGES_PER_STEP = -1


class BackupError(Exception):
    """A backup or restore that cannot be made or trusted; the message says why."""


@dataclass(frozen=True)
class Status:
    applied: list[str]
    pending: list[str]
    unknown: list[str]  # applied here but not declared by this seatsync: the database is newer than the code
    size_bytes: int
    wal_bytes: int


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)


def status(path: Path) -> Status:
    """Applied and pending migrations and the files' sizes, read without writing anything."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        db = sqlite_utils.Database(conn)
        applied = [m.name for m in MIGRATIONS.applied(db)]
        pending = [m.name for m in MIGRATIONS.pending(db)]
    finally:
        conn.close()
    declared = {m.name for m in MIGRATIONS._migrations}
    return Status(applied=applied, pending=pending, unknown=[name for name in applied if name not in declared],
                  size_bytes=_file_size(path), wal_bytes=_file_size(Path(f"{path}-wal")))


def migrate(path: Path) -> list[str]:
    """Apply every pending migration (each in its own transaction); the names applied, oldest first."""
    from adapter.store.connection import open_db

    db = open_db(path, migrate=False)
    try:
        before = [m.name for m in MIGRATIONS.pending(db)]
        MIGRATIONS.apply(db)
        return [name for name in before if name not in {m.name for m in MIGRATIONS.pending(db)}]
    finally:
        db.close()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check``'s first line: ``ok`` for a sound database file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
        return str(row[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    source.backup(target, pages=BACKUP_PAGES_PER_STEP)


def backup(database: Path, target: Path) -> int:
    """Copy the live ``database`` to ``target`` (a new file) online; the backup's size in bytes.

    The copy is written to ``target``'s folder under a temporary name, checked (``integrity_check``)
    and then renamed into place, so ``target`` is either a whole, sound backup or absent.
    """
    if not database.exists():
        raise BackupError(f"{database} does not exist")
    if target.exists():
        raise BackupError(f"{target} exists; give a new file name (a backup never overwrites one)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source = _connect(database)
    try:
        copy = sqlite3.connect(str(partial), isolation_level=None)
        try:
            _copy(source, copy)
            # A backup is one self-contained file: no -wal beside it to lose when it is moved.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        source.close()
    verdict = integrity(partial)
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {verdict}")
    os.replace(partial, target)
    return target.stat().st_size


def restore(backup_file: Path, database: Path) -> list[str]:
    """Replace ``database``'s content with ``backup_file``'s; the migrations applied afterwards.

    Checked first: the backup is a sound seatsync database whose migrations this seatsync knows. The
    copy goes through the backup API into the database itself, so a process that still had it open
    sees either the old or the new content, never a mix (stop the server and worker first all the same:
    they would go on from what they held in memory).
    """
    if not backup_file.exists():
        raise BackupError(f"{backup_file} does not exist")
    verdict = integrity(backup_file)
    if verdict != "ok":
        raise BackupError(f"{backup_file} is not a sound database: {verdict}")
    try:
        found = status(backup_file)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup_file} cannot be read: {exc}") from None
    if not found.applied:
        raise BackupError(f"{backup_file} is not a seatsync database (no migrations applied)")
    if found.unknown:
        raise BackupError(f"{backup_file} was written by a newer seatsync (migrations {', '.join(found.unknown)})")
    database.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        live = _connect(database)
        try:
            live.execute("PRAGMA journal_mode=WAL")
            _copy(source, live)
        finally:
            live.close()
    finally:
        source.close()
    return migrate(database)
