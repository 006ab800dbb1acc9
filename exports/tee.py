"""A dataset's rows read once for every file written of it (issue 29 item 7).

Each writer (CSV, XPT, Dataset-JSON, the XLSX worksheets) reads a dataset's rows a block at a
time (exports.datasets.column_chunks). Written one after the other, the spooled blocks were read
— unpickled — once per format. `fan_out` reads them once and hands each block to every writer,
each running in a thread of its own on an iterator of the blocks (the writers keep their
pull-style loops). The threads share the interpreter (no two run Python at once); what they gain
is the reading, done once, and the hashing, compression and file writes, which release the
interpreter lock; and the columns' types and distinct values, which each writer looks at, are
found once (exports.facts). A writer gets a block at most `depth` blocks ahead of the slowest writer, so
memory holds a few blocks, not the dataset.

A writer is given its own list of the block's columns (it may replace a column in it, as the
Dataset-JSON writer does); the columns' lists themselves are shared and must not be changed
(none of the writers changes them: tests/exports/test_tee.py writes every format through
`fan_out` and compares the bytes with each format written alone).

If reading fails, each writer's iterator raises (a writer never takes a truncated read for the
end of the rows) and `fan_out` raises the reading's error; if a writer fails, the others go on
and `fan_out` raises the first writer's error once every writer has finished.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from exports import facts

#: blocks a writer may be given ahead of the one it is writing
DEPTH = 2

_END = object()


class RowsNotRead(RuntimeError):
    """What a writer's iterator raises when the rows could not be read to their end."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Feed(Iterator[Any]):
    """One writer's iterator over the blocks `fan_out` reads."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.ended = False  # the end (or the reading's failure) was taken
        self.closed = False  # the writer has returned: no block is given to it any more

    def put(self, item: Any) -> None:
        self._queue.put(item)

    def __next__(self) -> Any:
        if self.ended:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self.ended = True
            raise StopIteration
        if isinstance(item, _Failed):
            self.ended = True
            raise RowsNotRead("the dataset's rows could not be read to their end") from item.error
        return item

    def drain(self) -> None:
        """Take what is still given after the writer returned, to the end: the reader never
        waits on a writer that has stopped reading."""
        while not self.ended:
            item = self._queue.get()
            if item is _END or isinstance(item, _Failed):
                self.ended = True


def fan_out(
    blocks: Iterable[list[Any]], writers: list[Callable[[Iterator[list[Any]]], Any]], depth: int = DEPTH
) -> list[Any]:
    """`writer(blocks)` of each writer, `blocks` read once: each writer in a thread of its own
    with its own iterator over the blocks (each block a new outer list); their results in order.
    The columns' types and distinct values are found once for all the writers (exports.facts)."""
    with facts.kept():
        return _fan_out(blocks, writers, depth)


def _fan_out(blocks: Iterable[list[Any]], writers: list[Callable[[Iterator[list[Any]]], Any]], depth: int) -> list[Any]:
    feeds = [Feed(depth) for _writer in writers]
    results: list[Any] = [None] * len(writers)
    errors: list[BaseException | None] = [None] * len(writers)

    def run(number: int) -> None:
        feed = feeds[number]
        try:
            results[number] = writers[number](feed)
        except BaseException as error:  # handed to the caller once every writer has finished
            errors[number] = error
        finally:
            feed.closed = True
            feed.drain()

    threads = [
        threading.Thread(target=run, args=(number,), name=f"export-writer-{number}", daemon=True)
        for number in range(len(writers))
    ]
    for thread in threads:
        thread.start()
    failed: BaseException | None = None
    try:
        for block in blocks:
            for feed in feeds:
                if not feed.closed:
                    feed.put(list(block))
    except BaseException as error:
        failed = error
    for feed in feeds:
        feed.put(_Failed(failed) if failed is not None else _END)
    for thread in threads:
        thread.join()
    if failed is not None:
        raise failed
    for error in errors:
        if error is not None:
            raise error
    return results


class RowSplit:
    """Blocks of rows (lists of columns) given out in runs of rows: `until(stop)` yields the
    blocks up to row `stop` (from 0), a block that crosses it cut there and its rest kept for the
    next run (an XLSX dataset's worksheets: 1,048,575 rows each)."""

    def __init__(self, blocks: Iterable[list[list[Any]]]) -> None:
        self._blocks = iter(blocks)
        self._rest: list[list[Any]] | None = None
        self.at = 0

    def until(self, stop: int) -> Iterator[list[list[Any]]]:
        while self.at < stop:
            block = self._rest if self._rest is not None else next(self._blocks, None)
            self._rest = None
            if block is None:
                return
            count = len(block[0]) if block else 0
            if not count:
                continue
            if self.at + count > stop:
                cut = stop - self.at
                self._rest = [column[cut:] for column in block]
                block = [column[:cut] for column in block]
                count = cut
            self.at += count
            yield block
