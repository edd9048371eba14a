"""Store faults: which SQLite (and file system) failures mean "the store cannot take this now".

A locked, busy, full, read-only or failing disk is not the caller's fault and not a bug: the HTTP layer
answers 503 with ``Retry-After`` and a problem naming the cause, and the connection that saw it is
reopened, so the next request after the fault clears succeeds without a restart. Constraint and
programming errors are bugs and stay out of this (they are not retried into success).
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass

# Seconds a caller should wait before retrying, per cause: a lock clears in moments, a full or
# read-only disk needs an operator.
RETRY_AFTER = {"locked": 1, "full": 30, "read-only": 30, "I/O error": 10, "unusable": 30, "unavailable": 5}

# How a problem's detail says it: "the database is <phrase>".
PHRASES = {"locked": "locked by another writer", "full": "full (no space left on its disk)",
           "read-only": "read-only", "I/O error": "failing (disk I/O error)",
           "unusable": "unusable (cannot be opened as a database)", "unavailable": "unavailable"}

_BY_ERRNO = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read-only", errno.EACCES: "read-only",
             errno.EPERM: "read-only", errno.EIO: "I/O error"}


class StoreUnavailable(Exception):
    """The store cannot take a request now; ``cause`` is one of ``RETRY_AFTER``'s keys."""

    def __init__(self, cause: str, detail: str):
        super().__init__(f"store {cause}: {detail}")
        self.cause = cause
        self.detail = detail
        self.retry_after = RETRY_AFTER.get(cause, 5)
        self.phrase = PHRASES.get(cause, cause)


@dataclass(frozen=True)
class _Rule:
    cause: str
    names: tuple[str, ...]  # sqlite_errorname prefixes (Python 3.11+)
    words: tuple[str, ...]  # message fragments, for errors raised without a code


_RULES = (
    _Rule("locked", ("SQLITE_BUSY", "SQLITE_LOCKED"), ("database is locked", "database table is locked")),
    _Rule("full", ("SQLITE_FULL",), ("database or disk is full",)),
    _Rule("read-only", ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"), ("readonly database", "read-only")),
    _Rule("I/O error", ("SQLITE_IOERR",), ("disk i/o error",)),
    _Rule("unusable", ("SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_CORRUPT"),
          ("unable to open", "not a database", "malformed")),
)


def fault_of(exc: BaseException) -> StoreUnavailable | None:
    """The store fault ``exc`` is, or None when it is something else (a bug, a constraint)."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, OSError):
        cause = _BY_ERRNO.get(exc.errno or 0)
        return StoreUnavailable(cause, exc.strerror or str(exc)) if cause else None
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, (sqlite3.IntegrityError,
                                                                      sqlite3.ProgrammingError)):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc).lower()
    for rule in _RULES:
        if name.startswith(rule.names) or any(word in message for word in rule.words):
            return StoreUnavailable(rule.cause, str(exc))
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable("unavailable", str(exc))
    return None
