"""Tables of stored objects, their indexes and an undo journal, so a request costs what it touches.

- ``Table`` (a ``dict`` of id -> object): every object reached through a table (``t[id]``,
  ``t.get(id)``, ``t.values()``) is noted in the journal until the current request ends
  (``Journal.begin`` / ``end``); when the journal is *saving*, a deep copy is kept the first time an
  object is reached, so ``rollback`` can put every reached object back **in place** (references held
  elsewhere stay valid) and drop the objects the request added. Nothing is copied that the request
  did not reach.
- ``Index``: ids bucketed by a function of the object (``None``: in no bucket), e.g. "open
  unbilled charges by subscription". Objects are mutated in place by the operations, so before
  an index answers it re-files every object of its table reached since the request began
  (``Journal.flush``); an object can only change if it was reached through its table. ``begin`` and
  ``end`` re-file what was reached before (work done outside a request, e.g. a test calling
  operations directly, is filed too). ``Queue`` keeps ids ordered by such a key (a heap, stale
  entries dropped when met): renewals.

Bucket members come back in the order they were first stored (creation order), as a scan of the
table would give them. ``check`` recomputes every index from scratch, and ``Journal.last_visits``
counts the objects the last request reached, the entries of every table it scanned and the objects
it re-filed (``Journal.work`` the same, summed since the start), so tests can check that a
request's work does not grow with the history (tests/test_scaling.py).
"""

from __future__ import annotations

import copy
import heapq
import itertools
from typing import Any, Callable, Iterable

ABSENT = object()


class Journal:
    def __init__(self) -> None:
        self.saving = False
        self.scanned = 0  # table entries iterated over since begin (whole-table scans)
        self.refiled = 0  # objects re-filed in indexes since begin
        self.work = 0  # reached + scanned + re-filed, ever (never reset: tests read differences)
        self.last_visits = 0
        self._reached: dict[int, tuple["Table", dict[Any, None]]] = {}
        self._saved: dict[tuple[int, Any], tuple["Table", Any, Any]] = {}

    def begin(self, *, saving: bool) -> None:
        """A request starts: ``saving`` keeps copies of what it reaches for ``rollback``."""
        self.end()
        self.saving = saving

    def savepoint(self) -> None:
        """Keep copies from now on (of what was already reached too): ``rollback`` returns here."""
        self.saving = True
        self._saved = {}
        for table, keys in self._reached.values():
            for key in keys:
                self._save(table, key)

    def reach(self, table: "Table", key: Any) -> None:
        entry = self._reached.get(id(table))
        if entry is None:
            entry = self._reached[id(table)] = (table, {})
        if key not in entry[1]:
            entry[1][key] = None
            self.work += 1
        if self.saving:
            self._save(table, key)

    def _save(self, table: "Table", key: Any) -> None:
        slot = (id(table), key)
        if slot not in self._saved:
            found = dict.get(table, key, ABSENT)
            self._saved[slot] = (table, key, ABSENT if found is ABSENT else copy.deepcopy(found))

    def flush(self, table: "Table") -> None:
        """Re-file every object of ``table`` reached in this request."""
        entry = self._reached.get(id(table))
        if entry is not None:
            self.refiled += len(entry[1])
            self.work += len(entry[1])
            for key in entry[1]:
                table.refile(key)

    def rollback(self) -> None:
        """Put back every object reached since ``begin`` (or the last ``savepoint``); keeps tracking."""
        for table, key, backup in self._saved.values():
            if backup is ABSENT:
                table.drop(key)
                continue
            live = dict.get(table, key)
            if live is None:
                table.restore(key, backup)
            else:
                live.clear()
                live.update(backup)
        self._saved = {}
        self.saving = False
        self._refile_all()

    def end(self) -> None:
        """The request is over: indexes brought up to date, the notes cleared."""
        self._refile_all()
        self.last_visits = sum(len(keys) for _, keys in self._reached.values()) + self.scanned + self.refiled
        self.saving = False
        self.scanned = self.refiled = 0
        self._reached, self._saved = {}, {}

    def _refile_all(self) -> None:
        for table, keys in list(self._reached.values()):
            for key in keys:
                table.refile(key)


class Table(dict):
    """id -> stored object; reaching an object notes it in the journal."""

    def __init__(self, journal: Journal):
        super().__init__()
        self.journal = journal
        self.indexes: list[Any] = []
        self._seq: dict[Any, int] = {}
        self._counter = itertools.count()

    def __getitem__(self, key):
        obj = dict.__getitem__(self, key)
        self.journal.reach(self, key)
        return obj

    def get(self, key, default=None):
        return self[key] if dict.__contains__(self, key) else default

    def values(self):
        return [self[key] for key in dict.keys(self)]

    def items(self):
        return [(key, self[key]) for key in dict.keys(self)]

    def __iter__(self):
        self.journal.scanned += len(self)
        self.journal.work += len(self)
        return dict.__iter__(self)

    def keys(self):
        self.journal.scanned += len(self)
        self.journal.work += len(self)
        return dict.keys(self)

    def __setitem__(self, key, obj) -> None:
        self.journal.reach(self, key)  # saved as absent (or as it was) before it is replaced
        dict.__setitem__(self, key, obj)
        if key not in self._seq:
            self._seq[key] = next(self._counter)

    def __delitem__(self, key) -> None:
        raise NotImplementedError("stored objects are never deleted; mark them instead")

    def pop(self, *args):
        raise NotImplementedError("stored objects are never deleted; mark them instead")

    def drop(self, key) -> None:
        """Rollback only: forget an object the request added."""
        dict.pop(self, key, None)
        self._seq.pop(key, None)
        self.refile(key)

    def restore(self, key, obj) -> None:
        dict.__setitem__(self, key, obj)
        self._seq.setdefault(key, next(self._counter))

    def refile(self, key) -> None:
        obj = dict.get(self, key)
        for index in self.indexes:
            index.update(key, obj)

    def in_order(self, keys: Iterable) -> list:
        return sorted(keys, key=self._seq.__getitem__)

    def check(self) -> None:
        """Every index equals one rebuilt from the objects (tests)."""
        for index in self.indexes:
            index.check()


class Index:
    """Ids of a table's objects by ``key(obj)``; ``None`` files an object nowhere."""

    def __init__(self, table: Table, key: Callable[[dict], Any]):
        self.table, self.key = table, key
        self.buckets: dict[Any, dict[Any, None]] = {}
        self.where: dict[Any, Any] = {}
        table.indexes.append(self)

    def update(self, obj_id, obj) -> None:
        new = None if obj is None else self.key(obj)
        old = self.where.get(obj_id)
        if old == new:
            return
        if old is not None:
            bucket = self.buckets[old]
            del bucket[obj_id]
            if not bucket:
                del self.buckets[old]
            del self.where[obj_id]
        if new is not None:
            self.buckets.setdefault(new, {})[obj_id] = None
            self.where[obj_id] = new

    def ids(self, bucket) -> list:
        self.table.journal.flush(self.table)
        return self.table.in_order(self.buckets.get(bucket, ()))

    def has(self, bucket) -> bool:
        self.table.journal.flush(self.table)
        return bool(self.buckets.get(bucket))

    def objects(self, bucket) -> list[dict]:
        return [self.table[obj_id] for obj_id in self.ids(bucket)]

    def check(self) -> None:
        rebuilt: dict[Any, set] = {}
        for obj_id, obj in dict.items(self.table):
            bucket = self.key(obj)
            if bucket is not None:
                rebuilt.setdefault(bucket, set()).add(obj_id)
        actual = {bucket: set(ids) for bucket, ids in self.buckets.items()}
        assert actual == rebuilt, f"index out of date: {actual} != {rebuilt}"


class Queue(Index):
    """Ids ordered by ``key(obj)`` (a sortable tuple, ``None``: not queued); ``first`` is the smallest."""

    def __init__(self, table: Table, key: Callable[[dict], Any]):
        super().__init__(table, key)
        self._heap: list[tuple[Any, Any]] = []

    def update(self, obj_id, obj) -> None:
        new = None if obj is None else self.key(obj)
        if self.where.get(obj_id) == new:
            return
        if new is None:
            self.where.pop(obj_id, None)
        else:
            self.where[obj_id] = new
            heapq.heappush(self._heap, (new, obj_id))

    def first(self) -> tuple[Any, Any] | None:
        """``(key, id)`` of the smallest queued object, or None."""
        self.table.journal.flush(self.table)
        while self._heap and self.where.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def check(self) -> None:
        rebuilt = {obj_id: self.key(obj) for obj_id, obj in dict.items(self.table) if self.key(obj) is not None}
        assert self.where == rebuilt, f"queue out of date: {self.where} != {rebuilt}"
        assert all(entry in self._heap for entry in ((k, i) for i, k in rebuilt.items()))
