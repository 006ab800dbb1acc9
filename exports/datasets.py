"""The dataset shape every builder produces and every writer and check consumes, and the
registry of builders keyed by dataset name (SDTM now; ADaM datasets plug in the same way).

A builder is a function of a `BuildContext` (the data read once for the export, and the
datasets already built — ADaM builders derive from SDTM ones) returning one or more `Dataset`s
(a domain and its SUPP--). It declares the IG whose metadata checks it (SDTMIG 3.4 or
ADaMIG 1.3) and the IG dataset or data structure; names, labels and types come from that
metadata (exports.metadata), in the IG's order.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from exports import metadata


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    type: str  # "Char", "Num", or "Date" (a SAS date written with DATE9.; ADaM *DT variables)


@dataclass
class Dataset:
    name: str  # e.g. "DM", "SUPPAE", "ADSL"
    label: str
    standard: str  # metadata.SDTMIG / metadata.ADAMIG
    ig_dataset: str  # the IG dataset or data structure that checks it ("DM", "SUPPQUAL", ...)
    columns: list[Column]
    rows: list[dict[str, Any]]
    keys: tuple[str, ...] = ()
    #: Expected variables left out, with the reason (shown in the report and in docs/exports.md)
    omitted: dict[str, str] = field(default_factory=dict)
    #: what the dataset says about itself: day convention, grading scales, text policy
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def values(self, name: str) -> list[Any]:
        column = getattr(self.rows, "column", None)  # rows spooled to disk read one column (exports.spool)
        if column is not None:
            return column(name)  # type: ignore[no-any-return]
        return [row.get(name) for row in self.rows]


def row_tuples(rows: Any, names: list[str], start: int = 0, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows `start` to `stop` (all by default) of a Dataset's `rows` as tuples of the values of
    `names`, None for a missing one: spooled rows (exports.spool) are read a column block at a
    time without making their dicts (issue 29 item 7: the writers read every row several times)."""
    tuples = getattr(rows, "tuples", None)
    if tuples is not None:
        return tuples(names, start, stop)  # type: ignore[no-any-return]
    if start or stop is not None:
        rows = itertools.islice(rows, start, stop)
    return (tuple([row.get(name) for name in names]) for row in rows)


#: rows a chunk of `column_chunks` of rows held in memory (spooled rows: their blocks)
COLUMN_CHUNK_ROWS = 5_000


def column_chunks(rows: Any, names: list[str], start: int = 0, stop: int | None = None) -> Iterator[list[list[Any]]]:
    """Rows `start` to `stop` (all by default) of a Dataset's `rows` a chunk at a time, each
    chunk as the list of the values of each of `names` (None for a missing one), in row order:
    the writers format a column of a chunk at a time instead of a cell at a time. Spooled rows
    (exports.spool) are read a block at a time; each list is the caller's to change."""
    chunks = getattr(rows, "column_chunks", None)
    if chunks is not None:
        yield from chunks(names, start, stop)
        return
    found = iter(rows) if not start and stop is None else itertools.islice(rows, start, stop)
    while part := list(itertools.islice(found, COLUMN_CHUNK_ROWS)):
        yield [[row.get(name) for row in part] for name in names]


def column_blocks(rows: Any, name: str) -> Iterator[list[Any]]:
    """The values of one column of a Dataset's `rows`, a block at a time (spooled rows: their
    blocks, exports.spool; rows in memory: one block)."""
    blocks = getattr(rows, "column_blocks", None)
    if blocks is not None:
        yield from blocks(name)
    else:
        yield [row.get(name) for row in rows]


class ColumnRows(Sequence):  # type: ignore[type-arg]
    """A dataset's rows held a list per column (issue 29 item 7): what the large findings builders
    (VS, LB, ADLB) make instead of a dict per row, read as `SpooledRows` (exports.spool) is —
    a read-only sequence of row dicts (`len`, iteration, an index or a slice), and `column`,
    `column_blocks`, `column_chunks` and `tuples` without making the dicts; the spool writes its
    blocks from the columns (`SpooledRows.extend`), with no transposition. Every column has one
    value per row; `columns` is the column order, as `_copied` orders a row's keys."""

    def __init__(self, values: dict[str, list[Any]], count: int | None = None) -> None:
        self.columns = list(values)
        self.values = values
        self._count = len(next(iter(values.values()))) if count is None and values else (count or 0)
        for name, column in values.items():
            if len(column) != self._count:
                raise ValueError(f"column {name}: {len(column)} values for {self._count} rows")

    def select(self, names: list[str]) -> ColumnRows:
        """The rows with exactly the columns `names`, in that order (None for a name not a column)."""
        return ColumnRows(
            {name: self.values[name] if name in self.values else [None] * self._count for name in names},
            self._count,
        )

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.columns
        return map(dict, map(zip, itertools.repeat(names), zip(*self.values.values(), strict=True)))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            names = self.columns
            sliced = [column[index] for column in self.values.values()]
            return [dict(zip(names, values, strict=True)) for values in zip(*sliced, strict=True)]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return {name: column[index] for name, column in self.values.items()}

    def _column(self, name: str) -> list[Any]:
        column = self.values.get(name)
        return [None] * self._count if column is None else column

    def column(self, name: str) -> list[Any]:
        """Every value of one column, in row order (the caller's own list)."""
        return list(self._column(name))

    def column_blocks(self, name: str) -> Iterator[list[Any]]:
        yield self.column(name)

    def column_chunks(self, names: list[str], start: int = 0, stop: int | None = None) -> Iterator[list[list[Any]]]:
        """As `SpooledRows.column_chunks`: COLUMN_CHUNK_ROWS rows at a time, each chunk the list
        of the values of each of `names` (lists the caller's own)."""
        stop = self._count if stop is None else min(stop, self._count)
        columns = [self._column(name) for name in names]
        for low in range(start, stop, COLUMN_CHUNK_ROWS):
            high = min(low + COLUMN_CHUNK_ROWS, stop)
            yield [column[low:high] for column in columns]

    def tuples(self, names: list[str], start: int = 0, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        stop = self._count if stop is None else min(stop, self._count)
        if start == 0 and stop == self._count:
            return zip(*[self._column(name) for name in names], strict=True)
        return zip(*[self._column(name)[start:stop] for name in names], strict=True)


def permuted(values: list[Any], order: list[int]) -> list[Any]:
    """`values` taken in `order` (a list of positions), in C."""
    return list(map(values.__getitem__, order))


def sequence_numbers(subjects: list[Any]) -> list[int]:
    """--SEQ of rows sorted by subject: 1, 2, … within each run of equal `subjects`."""
    return list(
        itertools.chain.from_iterable(range(1, len(list(run)) + 1) for _key, run in itertools.groupby(subjects))
    )


def make_dataset(
    name: str,
    *,
    standard: str,
    ig_dataset: str,
    variables: Iterable[str],
    rows: list[dict[str, Any]] | ColumnRows,
    keys: tuple[str, ...],
    label: str | None = None,
    omitted: dict[str, str] | None = None,
    notes: list[str] | None = None,
    types: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> Dataset:
    """A dataset whose columns are `variables` in the IG's order, labelled and typed from the IG
    (`types` overrides a type, e.g. "Date" for an ADaM numeric date). A variable unknown to the IG
    keeps its place at the end with an empty label: the checks report it."""
    wanted = list(dict.fromkeys(variables))
    if standard == metadata.ADAMIG:
        return _adam_dataset(name, ig_dataset, wanted, rows, keys, label, omitted, notes, types, labels)
    known = {m.name: m for m in metadata.variables(standard, ig_dataset)}
    ordered = [v for v in known if v in wanted] + [v for v in wanted if v not in known]
    columns = []
    for var in ordered:
        meta = known.get(var)
        kind = (types or {}).get(var) or (meta.type if meta else "Char")
        columns.append(Column(var, meta.label if meta else "", kind))
    if label is None:
        label = metadata.sdtm_dataset_labels().get(name, name) if standard == metadata.SDTMIG else name
    return Dataset(
        name=name,
        label=label,
        standard=standard,
        ig_dataset=ig_dataset,
        columns=columns,
        rows=_copied(rows, [c.name for c in columns]),
        keys=keys,
        omitted=dict(omitted or {}),
        notes=list(notes or []),
    )


def _adam_dataset(  # type: ignore[no-untyped-def]
    name, structure, wanted, rows, keys, label, omitted, notes, types, labels
) -> Dataset:
    """An ADaM dataset: columns in the builder's order (ADaM leaves the order to the sponsor),
    labelled and typed from the ADaMIG (templated names such as TRT01P resolved); a
    sponsor-defined variable takes its label from `labels` (the checks report it as such)."""
    columns = []
    for var in wanted:
        meta = metadata.adam_match(structure, var)
        kind = (types or {}).get(var) or (meta.type if meta else "Char")
        text = (labels or {}).get(var) or (meta.label if meta else "")
        columns.append(Column(var, text, kind))
    return Dataset(
        name=name,
        label=label or name,
        standard=metadata.ADAMIG,
        ig_dataset=structure,
        columns=columns,
        rows=_copied(rows, [c.name for c in columns]),
        keys=keys,
        omitted=dict(omitted or {}),
        notes=list(notes or []),
    )


def _copied(rows: Any, names: list[str]) -> Any:
    """The rows with exactly the columns `names`, in that order (None for a row without one),
    held by column (`ColumnRows`): a dataset's rows are not changed once made, and held by column
    they are spooled without a dict per row or a transposition (issue 29 item 7)."""
    if isinstance(rows, ColumnRows):
        return rows.select(names)
    if not names:
        return [{} for _row in rows]
    get = dict.get
    return ColumnRows({name: list(map(get, rows, itertools.repeat(name))) for name in names}, len(rows))


@dataclass
class BuildContext:
    data: Any  # the loaded export data (exports.sdtm.ExportData)
    built: dict[str, Dataset] = field(default_factory=dict)


@dataclass(frozen=True)
class Builder:
    name: str
    standard: str
    build: Callable[[BuildContext], list[Dataset]]
    requires: tuple[str, ...] = ()
    order: int = 0


REGISTRY: dict[str, Builder] = {}


def register(
    name: str, *, standard: str, requires: tuple[str, ...] = (), order: int = 0
) -> Callable[[Callable[[BuildContext], list[Dataset]]], Callable[[BuildContext], list[Dataset]]]:
    def decorator(build: Callable[[BuildContext], list[Dataset]]) -> Callable[[BuildContext], list[Dataset]]:
        REGISTRY[name] = Builder(name=name, standard=standard, build=build, requires=requires, order=order)
        return build

    return decorator


def builders() -> dict[str, Builder]:
    """Every registered builder (importing the modules that register them)."""
    from exports import adam, design, domains, sdtm  # noqa: F401  (registers SDTM, RS and ADaM, trial design, CP..RELREC)

    return dict(sorted(REGISTRY.items(), key=lambda item: (item[1].order, item[0])))


def build_all(
    data: Any,
    names: Iterable[str],
    progress: Callable[[int, int], None] | None = None,
    context: BuildContext | None = None,
) -> list[Dataset]:
    """Build the named datasets (and what they require) in registry order (into `context` when
    given: the caller then sees the required datasets too)."""
    table = builders()
    wanted: list[str] = []

    def want(name: str) -> None:
        for required in table[name].requires:
            want(required)
        if name not in wanted:
            wanted.append(name)

    for name in names:
        want(name)
    wanted.sort(key=lambda n: (table[n].order, n))
    context = context or BuildContext(data=data)
    out: list[Dataset] = []
    requested = set(names)
    for index, name in enumerate(wanted, start=1):
        for dataset in table[name].build(context):
            context.built[dataset.name] = dataset
            if name in requested:
                out.append(dataset)
        if progress:
            progress(index, len(wanted))
    return out


# --- text policy --------------------------------------------------------------------------------

_REPLACEMENTS = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00b5": "u",
    "\u03bc": "u",
    "\u2265": ">=",
    "\u2264": "<=",
    "\u00d7": "x",
    "\u03b3": "gamma",
    "\u03b1": "alpha",
    "\u00b0": "",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\uff08": "(",
    "\uff09": ")",
    "\uff0c": ",",
}


def ascii_text(value: str | None) -> str:
    """The ASCII rendering of free text (the datasets are ASCII, as SAS transport v5 needs):
    a few symbols spelled out (µ → u, − → -, γ → gamma), accents dropped, other non-ASCII
    characters (e.g. Chinese) removed, spaces collapsed. "" when nothing is left; the caller then
    uses the coded English term. Every changed value is counted in the conformance report.
    Each distinct text is rendered once (the same terms, names and visits recur on every
    subject: issue 29 item 7)."""
    if not value:
        return ""
    return _ascii_text(value)


@functools.lru_cache(maxsize=1 << 16)
def _ascii_text(value: str) -> str:
    text = "".join(_REPLACEMENTS.get(ch, ch) for ch in value)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"\s+", " ", text).strip(" ,;/")
    return text


def iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
