"""The export's datasets built in chunks of subjects (issue 29 item 7): memory flat in the number
of subjects.

`exports.sdtm.load` and the builders hold every record of the subjects they are given (about
1.2 MB a subject). `build` gives them `chunk` subjects at a time, in USUBJID order, appends each
chunk's rows to a scratch file per dataset (exports.spool) and frees the chunk: the process holds
one chunk's forms and datasets, and the writers, the checks and the storage read the spooled rows.

The result is the unchunked build's, row for row (tests/exports/test_chunked.py compares the files
of both byte for byte):
- every subject-level dataset is sorted by USUBJID first and its --SEQ numbered within the
  subject, so the chunks, taken in USUBJID order, follow each other in the dataset's order;
- a subject-level dataset's records without USUBJID (RELREC's dataset-level relationships) are
  the same in every chunk: kept once, first (they sort first);
- the trial design datasets (TS, TE, TA, TV, TI) are built once, from the subjects and their
  consents alone (TS counts the subjects and dates the first consent);
- ADLB numbers its parameters (PARAMN) in the order of the parameters present: each chunk's
  numbers are mapped to their place among every chunk's parameters as the rows are read;
- the ASCII text policy's counts are summed over the chunks.
A chunk whose dataset has other columns than the first chunk's is an error (never the case:
the builders' columns do not depend on the data).

With more than one worker process (exports.parallel, settings.EXPORT_WORKERS; outside a
transaction only) the chunks are built by forked workers, each into spool files of its own, and
adopted here in USUBJID order (`SpooledRows.adopt`: the worker's blocks read where they are);
each worker's chunk is `chunk / workers` subjects, so together they hold what one process held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from exports import datasets, parallel, sdtm
from exports.spool import SpooledRows

#: the trial design datasets: built once for the study, not per chunk
STUDY_LEVEL = ("TS", "TE", "TA", "TV", "TI")
#: the forms the study-level datasets and the subject order read
STUDY_FORMS = ("consents",)


#: PostgreSQL settings of the export's reads (issue 29 item 7). A chunk's read of a form is a
#: DISTINCT ON over its history rows: at 10,000 subjects the lab results' took ~150–170 ms with the
#: server's defaults (two parallel workers beside the export's own two processes on two cores, a
#: JIT compilation of ~90 ms, a sort spilled to disk) and ~70 ms with these, on one core
#: (EXPLAIN ANALYZE, bench/README.md "The export's reads on the server").
READ_SETTINGS = {"max_parallel_workers_per_gather": "0", "jit": "off", "work_mem": "64MB"}


@contextmanager
def read_settings(using: str = "default") -> Iterator[None]:
    """READ_SETTINGS on the connection for the reads inside, its own values back after (the
    connection may be a Celery worker's, kept for its next task)."""
    from django.db import DatabaseError, connections

    connection = connections[using]
    names = list(READ_SETTINGS)
    assign = "SELECT " + ", ".join(["set_config(%s, %s, false)"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        before = cursor.fetchone()
        cursor.execute(assign, [part for name in names for part in (name, READ_SETTINGS[name])])

    def restore() -> None:
        with connection.cursor() as cursor:
            cursor.execute(assign, [part for pair in zip(names, before, strict=True) for part in pair])

    try:
        yield
    except BaseException:
        # in a transaction the error broke, the settings go with its rollback
        with contextlib.suppress(DatabaseError):
            restore()
        raise
    restore()


def subject_order(*, study: Any, site_ids: list[int], cutoff: date, at: datetime) -> tuple[Any, list[int]]:
    """The study-level data (subjects and consents only) and the export's subjects in USUBJID
    order (as they stood at the cut-off: exports.sdtm.subjects_at_cutoff)."""
    data = sdtm.load(study=study, site_ids=site_ids, cutoff=cutoff, at=at, forms_wanted=STUDY_FORMS)
    ordered = sorted(sdtm.subjects(data).values(), key=lambda subj: subj.usubjid)
    return data, [subj.id for subj in ordered]


class _Merged:
    """One dataset's chunks appended to its spool."""

    def __init__(self, first: datasets.Dataset, directory: Path) -> None:
        self.columns = [c.name for c in first.columns]
        self.spool = SpooledRows(directory / f"{first.name}.rows", self.columns)
        self.dataset = dataclasses.replace(first, rows=self.spool)
        self.by_subject = "USUBJID" in self.columns
        self.head: list[dict[str, Any]] = []
        self.head_keys: set[tuple[Any, ...]] = set()

    def add(self, built: datasets.Dataset) -> range:
        if [c.name for c in built.columns] != self.columns:
            raise ValueError(f"{built.name}: a chunk's columns differ from the first chunk's")
        head, rows = _head_and_rows(built)
        self._keep_head(head)
        return self.spool.extend(rows)

    def adopt(self, head: list[dict[str, Any]], path: Path, blocks: list[Any], columns: list[str]) -> range:
        """A chunk a worker built and spooled to `path` (`_build_chunk`)."""
        self._keep_head(head)
        return self.spool.adopt(path, blocks, columns)

    def _keep_head(self, head: list[dict[str, Any]]) -> None:
        for row in head:
            key = tuple(row.values())
            if key not in self.head_keys:
                self.head_keys.add(key)
                self.head.append(row)

    def finish(self) -> datasets.Dataset:
        if self.head:
            self.spool.prepend(self.head)
        return self.dataset


def _head_and_rows(built: datasets.Dataset) -> tuple[list[dict[str, Any]], Any]:
    """A chunk's rows without USUBJID that come first (RELREC's dataset-level rows, the same in
    every chunk: kept once), and the subjects' rows."""
    rows = built.rows
    if "USUBJID" not in [c.name for c in built.columns]:
        return [], rows
    if isinstance(rows, datasets.ColumnRows) and all(rows.values["USUBJID"]):
        return [], rows  # rows held by column (VS, LB, ADLB): every row a subject's
    head = []
    for row in rows:
        if row.get("USUBJID"):
            break
        head.append(row)
    return head, [row for row in rows if row.get("USUBJID")]


def build(
    *,
    study: Any,
    site_ids: list[int],
    cutoff: date,
    at: datetime,
    names: Iterable[str],
    directory: Path,
    chunk: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[datasets.Dataset], Counter[tuple[str, str]]]:
    """The datasets `names` (in build_all's order), their rows spooled under `directory`, and the
    ASCII policy's counts; `chunk` subjects loaded and built at a time."""
    from exports import adam

    names = list(names)
    directory.mkdir(parents=True, exist_ok=True)
    study_data, order = subject_order(study=study, site_ids=site_ids, cutoff=cutoff, at=at)
    text_changes: Counter[tuple[str, str]] = Counter()
    study_names = [n for n in names if n in STUDY_LEVEL]
    subject_names = [n for n in names if n not in STUDY_LEVEL]
    out = datasets.build_all(study_data, study_names) if study_names else []
    text_changes.update(study_data.text_changes)
    del study_data
    count = parallel.database_workers() if subject_names and len(order) > chunk else 1
    if count > 1:
        chunk = max(1, chunk // count)  # each worker holds a chunk: together what one process held
    chunks = [order[start : start + chunk] for start in range(0, len(order), chunk)] or [[]]
    merged: dict[str, _Merged] = {}
    lab_chunks: list[tuple[range, list[tuple[str, str, str]]]] = []
    if count > 1:
        shared = {
            "load": {"study": study, "site_ids": site_ids, "cutoff": cutoff, "at": at},
            "chunks": chunks,
            "names": subject_names,
            "directory": directory,
        }
        with parallel.pool(count, shared) as executor:
            for number, (results, params, changes) in enumerate(
                executor.map(_build_chunk, range(len(chunks))), start=1
            ):
                for meta, head, path, blocks in results:
                    if meta.name not in merged:
                        merged[meta.name] = _Merged(meta, directory)
                    adopted = merged[meta.name].adopt(head, path, blocks, [c.name for c in meta.columns])
                    if meta.name == "ADLB":
                        lab_chunks.append((adopted, params))
                text_changes.update(changes)
                if progress:
                    progress(number, len(chunks))
        chunks = []  # built
    with read_settings():
        for number, subject_ids in enumerate(chunks, start=1):
            data = sdtm.load(study=study, site_ids=site_ids, cutoff=cutoff, at=at, subject_ids=subject_ids)
            context = datasets.BuildContext(data=data)

            def step(index: int, total: int, number: int = number) -> None:
                """Progress dataset by dataset within the chunk, as the unchunked build reports it."""
                if progress:
                    progress((number - 1) * total + index, len(chunks) * total)

            for built in datasets.build_all(data, subject_names, step, context=context) if subject_names else []:
                if built.name not in merged:
                    merged[built.name] = _Merged(built, directory)
                blocks = merged[built.name].add(built)
                if built.name == "ADLB":
                    lab_chunks.append((blocks, adam.lab_params(context)))
            text_changes.update(data.text_changes)
            del data, context
            if progress and not subject_names:
                progress(number, len(chunks))
    if "ADLB" in merged:
        _renumber_lab_params(merged["ADLB"].spool, lab_chunks)
    out.extend(m.finish() for m in merged.values())
    return out, text_changes


def _build_chunk(index: int) -> tuple[list[tuple[datasets.Dataset, list[Any], Path, list[Any]]], list[Any], Any]:
    """In a worker process (exports.parallel): chunk `index` loaded, built and spooled to files
    of its own; per dataset (its metadata without rows, the head rows, the spool's path and
    blocks), ADLB's parameters and the text policy's counts. The reads with READ_SETTINGS."""
    with read_settings():
        return _build_chunk_read(index)


def _build_chunk_read(index: int) -> tuple[list[tuple[datasets.Dataset, list[Any], Path, list[Any]]], list[Any], Any]:
    from exports import adam

    shared = parallel.state()
    directory: Path = shared["directory"]
    data = sdtm.load(**shared["load"], subject_ids=shared["chunks"][index])
    context = datasets.BuildContext(data=data)
    out = []
    params: list[Any] = []
    for built in datasets.build_all(data, shared["names"], context=context):
        head, rows = _head_and_rows(built)
        # the worker's chunks of a dataset in one file: a descriptor per dataset and worker in the
        # exporting process, not one per dataset and chunk (thousands at 10,000 subjects)
        path = directory / f"{built.name}.{os.getpid()}.rows"
        spool = SpooledRows(path, [c.name for c in built.columns], append=True)
        spool.extend(rows)
        out.append((dataclasses.replace(built, rows=[]), head, path, spool.blocks()))
        spool.close()
        if built.name == "ADLB":
            params = adam.lab_params(context)
    return out, params, data.text_changes


def _renumber_lab_params(spool: SpooledRows, chunks: list[tuple[range, list[tuple[str, str, str]]]]) -> None:
    """Each chunk's ADLB.PARAMN (its position in the chunk's parameters) made the position among
    every chunk's parameters (adam.lab_params): the numbering of the unchunked build."""
    union = sorted({param for _blocks, params in chunks for param in params})
    place = {param: float(n) for n, param in enumerate(union, start=1)}
    for blocks, params in chunks:
        mapping = {float(n): place[param] for n, param in enumerate(params, start=1)}
        if any(local != study for local, study in mapping.items()):
            spool.remap(blocks, "PARAMN", mapping)
