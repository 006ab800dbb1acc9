"""Both cores for the export (issue 29 item 7): the chunks of subjects built, and the files
written, by forked worker processes.

`EXPORT_WORKERS` (setting; default: 2, or the number of CPUs when fewer) processes at most. A
worker is forked from the exporting process, so it has the export, the datasets built so far and
their spools (exports.spool: read with `os.pread`, so any number of processes can read the same
file) without pickling them; it is given only a task number and returns what it wrote (paths,
sizes, hashes, a spool's block list) — never rows.

Database connections: a forked worker must not use the connection it inherited (its socket is
the parent's). Each worker sets the inherited connections aside, unclosed (closing would end the
parent's session), and opens its own on its first query. A new connection sees only committed
data, so the chunks are built in workers only outside a transaction (`database_workers`): a
test's transaction, or any caller's, builds them in the exporting process as before. The file
writers do not read the database.

Whatever the number of workers, the files are the same bytes (tests/exports/test_chunked.py):
the tasks' results are put back in the serial order.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from django.conf import settings

DEFAULT_WORKERS = 2

#: what the forked workers read: set before the fork, so each worker has it as it was then
_STATE: dict[str, Any] = {}
_POOL_LOCK = threading.Lock()
#: connections a worker inherited: kept, never closed or used (their socket is the parent's)
_INHERITED: list[Any] = []


def workers() -> int:
    """Processes an export may use (settings.EXPORT_WORKERS, at least 1)."""
    configured = getattr(settings, "EXPORT_WORKERS", None)
    if configured is None:
        return min(DEFAULT_WORKERS, os.cpu_count() or 1)
    return max(1, int(configured))


def database_workers() -> int:
    """Processes that may read the database for the export: 1 inside a transaction (a worker's
    own connection would not see its uncommitted rows), else `workers()`."""
    from django.db import connections

    if any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        return 1
    return workers()


def state() -> dict[str, Any]:
    """In a worker: what the exporting process set for its tasks."""
    return _STATE


def _set_aside_connections() -> None:
    """A worker's start: its inherited database connections are not its own."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
            conn.connection = None


@contextmanager
def pool(count: int, shared: dict[str, Any]) -> Iterator[ProcessPoolExecutor]:
    """`count` forked worker processes, each seeing `shared` through `state()`."""
    with _POOL_LOCK:  # one pool at a time per process: `_STATE` is what its workers are forked with
        yield from _pool(count, shared)


def _pool(count: int, shared: dict[str, Any]) -> Iterator[ProcessPoolExecutor]:
    _STATE.clear()
    _STATE.update(shared)
    # A Celery prefork worker's process is daemonic, and multiprocessing refuses children to a
    # daemonic process (they would outlive it unjoined): this pool is joined before it returns.
    process = multiprocessing.current_process()
    daemonic = process._config.get("daemon")  # type: ignore[attr-defined]
    if daemonic:
        process._config["daemon"] = False  # type: ignore[attr-defined]
    try:
        with ProcessPoolExecutor(
            max_workers=count, mp_context=multiprocessing.get_context("fork"), initializer=_set_aside_connections
        ) as executor:
            yield executor
    finally:
        _STATE.clear()
        if daemonic:
            process._config["daemon"] = daemonic  # type: ignore[attr-defined]


def run_tasks(
    task: Callable[[Any], Any], items: Sequence[Any], weights: Sequence[float], count: int, shared: dict[str, Any]
) -> list[Any]:
    """`task(item)` of every item in `count` worker processes, the heaviest items first (so the
    last ones to finish are short), the results in the items' order."""
    order = sorted(range(len(items)), key=lambda i: -weights[i])
    with pool(count, shared) as executor:
        futures: dict[int, Future[Any]] = {i: executor.submit(task, items[i]) for i in order}
        return [futures[i].result() for i in range(len(items))]
