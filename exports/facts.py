"""What the writers ask of a column of a block of rows — the types of its values, its distinct
values — found once for all of them (issue 29 item 7).

Each writer (CSV, XPT, Dataset-JSON, XLSX) formats a column of a block at a time and first
looks at the column's types and distinct values (`set(map(type, values))`, `set(values)`), in C
but over every value. When a dataset's files are written from one reading of its rows
(exports.tee.fan_out), the writers are handed the same column lists, and inside `kept()` these
facts are kept per list and found once, not once per writer.

A fact is kept with the list it is of (so the list is not freed and its `id` not reused while
the fact is kept), for the `LIMIT` lists most recently asked about; outside `kept()` nothing is
kept. The lists must not be changed while kept (exports.tee: the writers never change the
column lists they are handed). The facts are frozensets: a writer cannot change them for the
others.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: lists whose facts are kept: a few blocks' columns (exports.tee.DEPTH blocks ahead, ~60 columns)
LIMIT = 1024

_NONE = frozenset({None})
_lock = threading.Lock()
#: id(list) → (the list, {fact name: fact}); None outside `kept()`
_kept: dict[int, tuple[list[Any], dict[str, frozenset[Any]]]] | None = None
_users = 0


@contextmanager
def kept() -> Iterator[None]:
    """Facts kept inside (nested or from several threads: kept until the last one leaves)."""
    global _kept, _users
    with _lock:
        _users += 1
        if _kept is None:
            _kept = {}
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if not _users:
                _kept = None


def _fact(values: list[Any], name: str, find: Any) -> frozenset[Any]:
    store = _kept
    if store is None:
        return find(values)  # type: ignore[no-any-return]
    key = id(values)
    entry = store.get(key)
    if entry is not None and entry[0] is values:
        found = entry[1].get(name)
        if found is not None:
            return found
    fact: frozenset[Any] = find(values)
    with _lock:
        entry = store.get(key)
        if entry is None or entry[0] is not values:
            while len(store) >= LIMIT:
                del store[next(iter(store))]
            entry = store[key] = (values, {})
        entry[1][name] = fact
    return fact


def _kinds(values: list[Any]) -> frozenset[type]:
    return frozenset(map(type, values))


def _distinct(values: list[Any]) -> frozenset[Any]:
    return frozenset(values)


def _present(values: list[Any]) -> frozenset[Any]:
    return distinct(values) - _NONE


def kinds(values: list[Any]) -> frozenset[type]:
    """The types of the values (`set(map(type, values))`)."""
    return _fact(values, "kinds", _kinds)


def distinct(values: list[Any]) -> frozenset[Any]:
    """The distinct values (`set(values)`)."""
    return _fact(values, "distinct", _distinct)


def present(values: list[Any]) -> frozenset[Any]:
    """The distinct values but None."""
    return _fact(values, "present", _present)
