"""A dataset's rows spooled to a scratch file (issue 29 item 7): the export built in chunks of
subjects (exports.chunked) appends each chunk's rows here and frees them, so the process holds
one chunk, not the study.

`SpooledRows` is a read-only sequence of row dicts (what `Dataset.rows` is to the writers, the
checks and the storage): `len`, iteration, an index or a slice. The rows are kept in blocks of
`BLOCK_ROWS`, each column of a block pickled on its own, so a check reading one variable
(`Dataset.values`) unpickles that column only. `prepend` puts rows before those already there;
`remap` changes a column's values in some blocks as they are read (a chunk's numbering made the
study's). Reads use `os.pread`: two readers of the same rows do not disturb each other. The file
is this process's own scratch file (mode 0600, in the export's temporary directory): the pickles
it reads are the ones it wrote.
"""

from __future__ import annotations

import operator
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

BLOCK_ROWS = 5_000


def _transposed(block: list[dict[str, Any]], columns: list[str]) -> list[Any]:
    """The values of each of `columns` in `block`'s rows (a row without one of them: None)."""
    if len(columns) > 1:
        getter = operator.itemgetter(*columns)
        try:
            return list(zip(*map(getter, block), strict=True)) or [() for _name in columns]
        except KeyError:
            pass
    return [[row.get(name) for row in block] for name in columns]


def _sliced(values: dict[str, list[Any]], columns: list[str], start: int, stop: int) -> list[Any]:
    """Rows `start` to `stop` of columns held as lists, as `_transposed` gives a block of row
    dicts: a tuple per column, a list when there is one column (None for a column not held)."""
    count = stop - start
    out: list[Any] = []
    for name in columns:
        column = values.get(name)
        part = [None] * count if column is None else column[start:stop]
        out.append(tuple(part) if len(columns) > 1 else part)
    return out


class SpooledRows(Sequence):  # type: ignore[type-arg]
    def __init__(self, path: Path, columns: list[str], *, append: bool = False) -> None:
        """A new spool at `path`; with `append`, the file's bytes are kept and new blocks written
        after them (a worker's chunks of one dataset in one file: exports.chunked)."""
        self.path = path
        self.columns = list(columns)
        self._position = {name: i for i, name in enumerate(self.columns)}
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | (0 if append else os.O_TRUNC), 0o600)
        self._end = os.fstat(self._fd).st_size if append else 0
        #: per block as written: (rows, [(offset, length) per column], the file it is in)
        self._blocks: list[tuple[int, list[tuple[int, int]], int]] = []
        #: files of blocks written by another process (`adopt`), open for reading, by path
        self._adopted: dict[Path, int] = {}
        #: the blocks in row order, each with its first row
        self._order: list[tuple[int, int]] = []
        self._rows = 0
        #: block → column → {stored value: value read}
        self._maps: dict[int, dict[str, dict[Any, Any]]] = {}

    # --- writing ----------------------------------------------------------------------------------

    def _write(self, rows: Any) -> range:
        """`rows`: a list of row dicts, or rows held by column (exports.datasets.ColumnRows) whose
        blocks are sliced from the columns, stored as `_transposed` stores a block of dicts (a
        tuple per column, a list when there is one column): the same values read back."""
        first_block = len(self._blocks)
        by_column = getattr(rows, "values", None) if hasattr(rows, "select") else None
        for start in range(0, len(rows), BLOCK_ROWS):
            if by_column is not None:
                count = min(BLOCK_ROWS, len(rows) - start)
                sliced = _sliced(by_column, self.columns, start, start + count)
            else:
                block = rows[start : start + BLOCK_ROWS]
                count = len(block)
                sliced = _transposed(block, self.columns)
            places = []
            for values in sliced:
                data = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
                os.pwrite(self._fd, data, self._end)
                places.append((self._end, len(data)))
                self._end += len(data)
            self._blocks.append((count, places, self._fd))
        return range(first_block, len(self._blocks))

    def _renumber(self, order: list[int]) -> None:
        self._order, first = [], 0
        for block in order:
            self._order.append((block, first))
            first += self._blocks[block][0]
        self._rows = first

    def extend(self, rows: Any) -> range:
        """Append `rows` (dicts with this spool's columns, or exports.datasets.ColumnRows); the
        blocks they went to."""
        written = self._write(rows)
        self._renumber([block for block, _first in self._order] + list(written))
        return written

    def blocks(self) -> list[tuple[int, list[tuple[int, int]]]]:
        """The blocks as written, in row order, each (rows, [(offset, length) per column]): what
        `adopt` takes from a spool another process wrote (exports.parallel)."""
        return [self._blocks[block][:2] for block, _first in self._order]  # type: ignore[misc]

    def adopt(self, path: Path, blocks: list[tuple[int, list[tuple[int, int]]]], columns: list[str]) -> range:
        """Append the `blocks` (`blocks()` of a spool of the same `columns` at `path`, written by
        another process: a chunk built by a worker) without copying them: read from that file."""
        if list(columns) != self.columns:
            raise ValueError(f"{path.name}: a chunk's columns differ from the first chunk's")
        fd = self._adopted.get(path)
        if fd is None:  # one descriptor per file, however many chunks it holds
            fd = self._adopted[path] = os.open(path, os.O_RDONLY)
        first_block = len(self._blocks)
        self._blocks.extend((rows, places, fd) for rows, places in blocks)
        written = range(first_block, len(self._blocks))
        self._renumber([block for block, _first in self._order] + list(written))
        return written

    def prepend(self, rows: list[dict[str, Any]]) -> range:
        """Put `rows` before the rows already there."""
        written = self._write(rows)
        self._renumber(list(written) + [block for block, _first in self._order])
        return written

    def remap(self, blocks: range, column: str, mapping: dict[Any, Any]) -> None:
        """Read `column` through `mapping` (values not in it unchanged) in `blocks`."""
        for block in blocks:
            self._maps.setdefault(block, {})[column] = mapping

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        while self._adopted:
            os.close(self._adopted.popitem()[1])

    def __del__(self) -> None:
        self.close()

    # --- reading ----------------------------------------------------------------------------------

    def _column(self, block: int, index: int) -> list[Any]:
        _rows, places, fd = self._blocks[block]
        offset, length = places[index]
        return self._mapped(block, index, pickle.loads(os.pread(fd, length, offset)))  # noqa: S301  (our own file)

    def _mapped(self, block: int, index: int, values: list[Any]) -> list[Any]:
        mapping = self._maps.get(block, {}).get(self.columns[index])
        if mapping:
            values = [mapping.get(v, v) for v in values]
        return values

    def _columns(self, block: int, positions: list[int | None]) -> list[list[Any]]:
        """The values of the columns at `positions` (None: a column not held, all None) in
        `block`, the block's bytes of them read at once (one `pread`, not one per column: the
        export's writers read every column of every block, exports.tee)."""
        count, places, fd = self._blocks[block]
        wanted = [places[i] for i in positions if i is not None]
        if not wanted:
            return [[None] * count for _i in positions]
        low = min(offset for offset, _length in wanted)
        high = max(offset + length for offset, length in wanted)
        if 2 * sum(length for _offset, length in wanted) < high - low:  # a few columns far apart
            return [[None] * count if i is None else self._column(block, i) for i in positions]
        data = memoryview(os.pread(fd, high - low, low))
        out = []
        for i in positions:
            if i is None:
                out.append([None] * count)
                continue
            offset, length = places[i]
            values = pickle.loads(data[offset - low : offset - low + length])  # noqa: S301  (our own scratch file)
            out.append(self._mapped(block, i, values))
        return out

    def _block_rows(self, block: int) -> list[dict[str, Any]]:
        columns = self._columns(block, list(range(len(self.columns))))
        names = self.columns
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]

    def tuples(self, names: list[str], start: int = 0, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows `start` to `stop` (all by default) as tuples of the values of `names` (None for a
        name not a column), in row order, without making the row dicts."""
        for columns in self.column_chunks(names, start, stop):
            yield from zip(*columns, strict=True)

    def column_chunks(self, names: list[str], start: int = 0, stop: int | None = None) -> Iterator[list[list[Any]]]:
        """Rows `start` to `stop` (all by default) a block at a time, each as the list of the
        values of each of `names` (None for a name not a column): what the writers format a
        column at a time. Every list is the caller's own (a new list each time)."""
        stop = self._rows if stop is None else min(stop, self._rows)
        positions = [self._position.get(name) for name in names]
        for block, first in self._order:
            count = self._blocks[block][0]
            if first + count <= start or first >= stop:
                continue
            columns = self._columns(block, positions)
            if start > first or stop < first + count:
                low, high = max(start - first, 0), stop - first
                columns = [values[low:high] for values in columns]
            yield columns

    def column_blocks(self, name: str) -> Iterator[list[Any]]:
        """The values of one column, a block at a time, in row order."""
        index = self._position.get(name)
        for block, _first in self._order:
            yield [None] * self._blocks[block][0] if index is None else self._column(block, index)

    def column(self, name: str) -> list[Any]:
        """Every value of one column, in row order."""
        index = self._position.get(name)
        if index is None:
            return [None] * self._rows
        out: list[Any] = []
        for block, _first in self._order:
            out.extend(self._column(block, index))
        return out

    def __len__(self) -> int:
        return self._rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for block, _first in self._order:
            yield from self._block_rows(block)

    def _rows_between(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        for block, first in self._order:
            count = self._blocks[block][0]
            if first + count <= start or first >= stop:
                continue
            yield from self._block_rows(block)[max(start - first, 0) : stop - first]

    def __getitem__(self, index: Any) -> Any:
        """A row, or for a slice an iterator over its rows, read a block at a time as consumed
        (as bench/export.py's Repeated rows): a writer's slice of a million rows is never a list."""
        if isinstance(index, slice):
            start, stop, step = index.indices(self._rows)
            if step != 1:
                return iter(list(self._rows_between(start, stop))[::step])
            return self._rows_between(start, stop)
        if index < 0:
            index += self._rows
        if not 0 <= index < self._rows:
            raise IndexError(index)
        return next(self._rows_between(index, index + 1))
