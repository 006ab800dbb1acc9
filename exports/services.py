"""Exports: requesting one, building it, recording downloads (DESIGN §3 exports/, §4a, §5).

An export is a background job (`EXPORT_JOB`, the lifecycle of jobs.services, as endpoint runs):
requested in one transaction with its outbox row; the relay hands it to Celery
(`exports.tasks.build_export`). Building reads
the data ONCE at the export's snapshot time from the audit trail (exports.sdtm.load → a
reproducible data cut), limited to the sites the requester may export and to records dated on or
before the clinical cut-off; reports progress in short transactions; and writes the files, the
dataset rows, the conformance report and the "succeeded" status in ONE transaction at the end,
guarded by the attempt number (a worker killed mid-export leaves no file; a superseded attempt
writes nothing). An export whose conformance report has errors still succeeds and is marked so.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exports import checks, datasets, define, metadata, sdtm, writers, xlsx
from exports.findings import ERROR, WARNING
from exports.models import (
    DownloadChannel,
    Export,
    ExportDataset,
    ExportDatasetPart,
    ExportDownload,
    ExportFile,
    ExportFilePart,
    ExportFormat,
    ExportTrigger,
)
from jobs import services as jobs
from jobs.kinds import JobKind
from study import access
from study.amendments import number_in_force
from study.models import Site, Study
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User

TASK_NAME = "exports.tasks.build_export"
#: the job kind of an export (jobs.kinds; registered in ExportsConfig.ready): its audit reasons
#: say "export started", "export failed", …
EXPORT_JOB = JobKind(model=Export, noun="export", task_name=TASK_NAME, id_kwarg="export_id")
#: DESIGN §4a: "start endpoint runs and de-identified exports"
EXPORT_ACTION = Action.START_ENDPOINT_RUNS
DEFINE_FILE = "define.json"
#: issue 29 item 7: a file up to INLINE_MAX_BYTES is stored in ExportFile.content, a larger one
#: in ExportFilePart rows of PART_BYTES; a dataset of up to INLINE_MAX_ROWS rows keeps them in
#: ExportDataset.rows, a larger one in ExportDatasetPart rows of PART_ROWS. Writing and reading
#: them never holds a whole large file or dataset as one value.
INLINE_MAX_BYTES = 32 << 20
PART_BYTES = 8 << 20
INLINE_MAX_ROWS = 50_000
PART_ROWS = 10_000
#: issue 29 item 7: subjects loaded and built at a time (settings.EXPORT_CHUNK_SUBJECTS overrides)
CHUNK_SUBJECTS = 500


def available_datasets() -> list[str]:
    return list(datasets.builders())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@transaction.atomic
def request_export(
    *,
    actor: User | None,
    study: Study,
    cutoff_date: date,
    dataset_names: Iterable[str] | None = None,
    formats: Iterable[str] | None = None,
    snapshot_at: datetime | None = None,
    trigger: str = ExportTrigger.PAGE,
    now: datetime | None = None,
) -> Export:
    """Record an export request and its outbox row in one transaction. `actor` None is the
    system (the management command without --user): every site of the study."""
    now = now or timezone.now()
    if actor is not None and not access.can_anywhere(actor, EXPORT_ACTION, study=study):
        raise PermissionDenied
    names = list(dict.fromkeys(dataset_names or available_datasets()))
    chosen_formats = list(dict.fromkeys(formats or [ExportFormat.CSV, ExportFormat.XPT]))
    errors = jobs.data_cut_errors(cutoff_date=cutoff_date, snapshot_at=snapshot_at, now=now)
    unknown = [n for n in names if n not in available_datasets()]
    if not names or unknown:
        errors["datasets"] = _("Unknown datasets: %(names)s. Choose from %(choices)s.") % {
            "names": ", ".join(unknown) or "-",
            "choices": ", ".join(available_datasets()),
        }
    if not chosen_formats or any(f not in ExportFormat.values for f in chosen_formats):
        errors["formats"] = _("Choose one or more of the formats offered.")
    if errors:
        raise ValidationError(errors)
    sites = Site.objects.filter(study=study)
    if actor is not None:
        sites = sites.filter(pk__in=access.sites_where(actor, EXPORT_ACTION).values("pk"))
    export = Export(
        study=study,
        requested_by=actor,
        requested_at=now,
        trigger=trigger,
        site_ids=sorted(sites.values_list("pk", flat=True)),
        datasets=names,
        formats=chosen_formats,
        cutoff_date=cutoff_date,
        snapshot_at=snapshot_at,
        protocol_version=number_in_force(study, cutoff_date),
    )
    return jobs.request(EXPORT_JOB, export, actor=actor)


def define_document(export: Export, built: list[datasets.Dataset]) -> dict[str, Any]:
    """The export's define file: the cut, and per dataset its standard, label, keys, variables
    (name, label, type), the expected variables left out with why, and its conventions."""
    assert export.snapshot_at is not None
    return {
        "study": export.study.code,
        "cutoff_date": export.cutoff_date.isoformat(),
        "snapshot_at": export.snapshot_at.astimezone(timezone.get_fixed_timezone(0)).isoformat(),
        "data_source": "audit-trail snapshot at snapshot_at; records dated after cutoff_date left out",
        "day_convention": sdtm.DAY_CONVENTION,
        "grading_scales": {
            "AE.AETOXGR": "grade number; scale per record in SUPPAE.TOXGRSCL: CTCAE v5.0, or ASTCT 2019 "
            "for the CRS and ICANS AEs (AECAT = CRS / ICANS)",
        },
        "text": "ASCII only; free text with non-ASCII characters has them removed, an emptied verbatim "
        "falls back to the coded English term",
        "datasets": [
            {
                "name": d.name,
                "label": d.label,
                "standard": d.standard,
                "structure": d.ig_dataset,
                "keys": list(d.keys),
                "rows": len(d.rows),
                "variables": [{"name": c.name, "label": c.label, "type": c.type} for c in d.columns],
                "omitted_expected": d.omitted,
                "notes": d.notes,
            }
            for d in built
        ],
    }


def build(
    export: Export, progress: Any = None, directory: Path | None = None
) -> tuple[list[datasets.Dataset], list[Any], list[dict[str, Any]]]:
    """Load the cut once, build the datasets, check them, and write the files (no database
    writes). Each dataset file is streamed to `directory` (issue 29 item 7) and described by
    its path, size and SHA-256; without `directory` the files are returned in memory
    ("content"), as for small exports and the tests. With `directory` the datasets are built
    EXPORT_CHUNK_SUBJECTS subjects at a time, their rows spooled under it (exports.chunked: the
    same rows, memory flat in the number of subjects); 0 builds them all at once."""
    assert export.snapshot_at is not None
    pause = float(getattr(settings, "EXPORT_STEP_PAUSE_SECONDS", 0) or 0)
    chunk = int(getattr(settings, "EXPORT_CHUNK_SUBJECTS", CHUNK_SUBJECTS))
    first = 5 if directory is not None and chunk else 20

    def step(index: int, total: int) -> None:
        if pause:
            time.sleep(min(pause, 60.0))
        if progress:
            progress(first + (70 - first) * index // total)

    if directory is not None and chunk:
        from exports import chunked

        built, text_changes = chunked.build(
            study=export.study,
            site_ids=list(export.site_ids),
            cutoff=export.cutoff_date,
            at=export.snapshot_at,
            names=export.datasets,
            directory=directory / "spool",
            chunk=chunk,
            progress=step,
        )
        findings = checks.conformance(built, text_changes)
    else:
        data = sdtm.load(
            study=export.study, site_ids=list(export.site_ids), cutoff=export.cutoff_date, at=export.snapshot_at
        )
        if progress:
            progress(20)
        built = datasets.build_all(data, export.datasets, step)
        findings = checks.conformance(built, data.text_changes)
        del data  # the forms as read: not needed to write the files (issue 29 item 7, peak memory)
    if progress:
        progress(75)
    files = write_files(export, built, directory)
    if ExportFormat.ODM in export.formats:
        files.append(odm_file(export, directory))
    define = _canonical(define_document(export, built)).encode()
    files.append({"dataset": "", "fmt": "json", "name": DEFINE_FILE, "rows": None, "content": define})
    files.extend(define_xml_files(export, [d for d in built if d.rows]))
    return built, findings, files


def written_file(directory: Path | None, name: str, write: Callable[[Any], Any]) -> dict[str, Any]:
    """Run `write(file object)` into `directory`/`name` and describe the file by its path, size
    and SHA-256 (of the bytes as they are written); into memory ("content") without a directory."""
    (stored,) = written_files(directory, [name], write)
    return stored


class _Hashing:
    """A file being written, and the SHA-256 and size of what is written to it (issue 29 item 7:
    not read back afterwards, 9 GB at 10,000 subjects). No `fileno`: a writer that would copy
    into it in the kernel (exports.xlsx._copy) reads and writes through it instead, so no byte
    reaches the file unhashed."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.digest.update(data)
        written: int = self.raw.write(data)
        self.size += written
        return written

    def flush(self) -> None:
        self.raw.flush()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) != (0, io.SEEK_END):  # only "where it ends": hashing needs the bytes in order
            raise io.UnsupportedOperation("a hashed file is written in order")
        return int(self.raw.seek(offset, whence))


def written_files(directory: Path | None, names: list[str], write: Callable[..., Any]) -> list[dict[str, Any]]:
    """`written_file` of several files written together: `write(file object of each name)`."""
    if directory is None:
        buffers = [io.BytesIO() for _name in names]
        write(*buffers)
        return [{"content": buffer.getvalue()} for buffer in buffers]
    paths = [directory / name for name in names]
    try:
        with contextlib.ExitStack() as stack:
            files = [_Hashing(stack.enter_context(path.open("wb"))) for path in paths]
            write(*files)
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return [
        {"path": path, "size_bytes": file.size, "sha256": file.digest.hexdigest()}
        for path, file in zip(paths, files, strict=True)
    ]


#: the writers' relative CPU cost per cell (1,000 subjects, 2026-12-06): how the tasks are
#: ordered among the worker processes (exports.parallel), the heaviest first
_WRITER_COST = {ExportFormat.CSV: 1.0, ExportFormat.XPT: 1.4, ExportFormat.JSON: 1.1, ExportFormat.XLSX: 3.2}


def write_files(export: Export, built: list[datasets.Dataset], directory: Path | None) -> list[dict[str, Any]]:
    """The dataset files of the export in each format asked for (an empty dataset has none).
    Written to `directory`, a dataset's files are written together from one reading of its rows
    and the datasets shared out among the export's worker processes (`_write_files_once`); in
    memory, one file after the other. The same files, in the same order, either way."""
    assert export.snapshot_at is not None
    written = [d for d in built if d.rows]  # an empty dataset is not submitted: no file (a note in the report)
    if directory is not None:
        return _write_files_once(export, written, directory)
    tasks: list[tuple[int, str]] = [
        (index, fmt)
        for index in range(len(written))
        for fmt in export.formats
        if fmt in (ExportFormat.CSV, ExportFormat.XPT, ExportFormat.JSON)
    ]  # (ODM is not a dataset format: odm_file; before, an export with ODM also wrote each dataset's CSV as <name>.odm)
    if ExportFormat.XLSX in export.formats:
        tasks.append((-1, ExportFormat.XLSX))  # the workbook at once (its Contents sheet, if nothing else)
    shared = {"export": export, "written": written, "directory": None}
    return [file for task in tasks for file in _write_task(task, shared)]


#: a task of `_write_files_once`: every file of one dataset
_EVERY = "every"


def _write_files_once(export: Export, written: list[datasets.Dataset], directory: Path) -> list[dict[str, Any]]:
    """`write_files` into `directory`: a task per dataset writing all of its files — each format
    asked for and its XLSX worksheets, deflated into part files — from one reading of its rows
    (exports.tee), the tasks shared out among the export's worker processes (exports.parallel),
    the heaviest first; the workbook's Contents sheet a task of its own, the workbook assembled
    from the parts after. The same files, in the same order, as `write_files` in memory."""
    from exports import parallel

    sheets = writers.xlsx_sheets(written) if ExportFormat.XLSX in export.formats else []
    numbers: dict[int, list[tuple[int, int, int]]] = {}  # dataset → its worksheets (number, start, stop)
    if sheets:
        number = 2  # (1: Contents)
        for index, dataset in enumerate(written):
            numbers[index] = []
            for _title, start, stop in writers.xlsx_dataset_sheets(dataset):
                numbers[index].append((number, start, stop))
                number += 1
    formats = [fmt for fmt in export.formats if fmt in (ExportFormat.CSV, ExportFormat.XPT, ExportFormat.JSON)]
    tasks: list[tuple[int, str]] = [(index, _EVERY) for index in range(len(written)) if formats or numbers]
    if sheets:
        tasks.append((1, ExportFormat.XLSX))  # the Contents sheet
    if not tasks:
        return []
    cost = sum(_WRITER_COST[fmt] for fmt in formats) + (_WRITER_COST[ExportFormat.XLSX] if sheets else 0)

    def weight(task: tuple[int, str]) -> float:
        index, kind = task
        return cost * len(written[index].rows) * len(written[index].columns) if kind == _EVERY else 0.0

    shared = {"export": export, "written": written, "directory": directory, "formats": formats, "sheets": numbers}
    count = min(parallel.workers(), len(tasks))
    # read here, not by a worker process nor a writer's thread (exports.tee): neither queries
    export.study  # noqa: B018
    if count > 1:
        results = parallel.run_tasks(_files_task, tasks, [weight(t) for t in tasks], count, shared)
    else:
        results = [_files_task(task, shared) for task in tasks]
    files = [
        file for (_index, kind), (found, _parts) in zip(tasks, results, strict=True) if kind == _EVERY for file in found
    ]
    if sheets:  # the Contents sheet (the last task), then the datasets' worksheets in order
        parts = [*results[-1][1], *(part for _found, found_parts in results[:-1] for part in found_parts)]
        files.append(_workbook_file(directory, sheets, parts, written))
    return files


def _files_task(task: tuple[int, str], shared: dict[str, Any] | None = None) -> tuple[list[Any], list[Any]]:
    """A task of `_write_files_once` (in a worker process, of the export it was forked with):
    the files and the XLSX parts it wrote."""
    from exports import parallel, tee

    shared = shared if shared is not None else parallel.state()
    index, kind = task
    if kind != _EVERY:
        return [], _write_task(task, shared)
    export: Export = shared["export"]
    directory: Path = shared["directory"]
    dataset: datasets.Dataset = shared["written"][index]
    names = [c.name for c in dataset.columns]
    jobs: list[Callable[[Any], Any]] = []
    for fmt in shared["formats"]:
        if fmt == ExportFormat.XPT and writers.xpt_problems(dataset):
            continue  # its problems are errors of the conformance report: no truncated file
        jobs.append(functools.partial(_format_files, export, dataset, directory, fmt))
    sheets = shared["sheets"].get(index, [])
    if sheets:
        jobs.append(functools.partial(_sheet_parts, names, directory, sheets))
    if not jobs:
        return [], []
    results = tee.fan_out(datasets.column_chunks(dataset.rows, names), jobs)
    found = [file for result in (results[:-1] if sheets else results) for file in result]
    return found, results[-1] if sheets else []


def _format_files(
    export: Export, dataset: datasets.Dataset, directory: Path | None, fmt: str, blocks: Any = None
) -> list[dict[str, Any]]:
    """The file(s) of `dataset` in `fmt` (CSV, XPT, Dataset-JSON and NDJSON), its rows read by the
    writer or given as `blocks` (exports.tee). XPT: its headers stamped with the snapshot's UTC
    time, not the clock (the same export, the same bytes); a dataset with XPT problems
    (writers.xpt_problems) is not to be given."""
    if fmt == ExportFormat.JSON:
        return _dataset_json_files(export, dataset, directory, blocks)
    name = f"{dataset.name.lower()}.{fmt}"
    if fmt == ExportFormat.XPT:
        assert export.snapshot_at is not None
        stamp = export.snapshot_at.astimezone(timezone.get_fixed_timezone(0))
        stored = written_file(
            directory, name, lambda out: writers.write_xpt(dataset, out, stamped=stamp, blocks=blocks)
        )
    else:
        stored = written_file(directory, name, lambda out: writers.write_csv(dataset, out, blocks))
    return [{"dataset": dataset.name, "fmt": fmt, "name": name, "rows": len(dataset.rows), **stored}]


def _sheet_parts(names: list[str], directory: Path, sheets: list[tuple[int, int, int]], blocks: Any) -> list[Any]:
    """A dataset's XLSX worksheets (number, first row, row after the last) as parts, its rows
    `blocks` cut where a worksheet ends."""
    from exports import tee

    rows = tee.RowSplit(blocks)
    parts = []
    for number, start, stop in sheets:
        assert rows.at == start
        chunks = xlsx.Columns(rows.until(stop), len(names) * (stop - start))
        parts.append(xlsx.sheet_part(number, names, chunks, str(directory / f"datasets.xlsx.sheet{number}.part")))
    return parts


def _workbook_file(
    directory: Path, sheets: list[tuple[str, list[str], Any]], parts: list[xlsx.Part], written: list[datasets.Dataset]
) -> dict[str, Any]:
    """The XLSX workbook assembled from its worksheets' parts (exports.xlsx.write_zip), which are
    then removed."""
    titles = [title for title, _header, _rows in sheets]
    try:
        stored = written_file(
            directory, "datasets.xlsx", lambda out: xlsx.write_zip(out, [*xlsx.workbook_parts(titles), *parts])
        )
    finally:
        for part in parts:
            Path(part.path).unlink(missing_ok=True)
    rows = sum(len(d.rows) for d in written)
    return {"dataset": "", "fmt": ExportFormat.XLSX, "name": "datasets.xlsx", "rows": rows, **stored}


def _write_task(task: tuple[int, str], shared: dict[str, Any] | None = None) -> list[Any]:
    """The file(s) of one dataset in one format; for XLSX, worksheet `index` (from 1) deflated
    into a part file (exports.xlsx.Part), or with `index` -1 the whole workbook in memory; in a
    worker process, of the export it was forked with (exports.parallel.state)."""
    from exports import parallel

    shared = shared if shared is not None else parallel.state()
    export: Export = shared["export"]
    written: list[datasets.Dataset] = shared["written"]
    directory: Path | None = shared["directory"]
    index, fmt = task
    if fmt == ExportFormat.XLSX and index < 0:
        stored = written_file(directory, "datasets.xlsx", lambda out: writers.write_xlsx(written, out))
        rows = sum(len(d.rows) for d in written)
        return [{"dataset": "", "fmt": ExportFormat.XLSX, "name": "datasets.xlsx", "rows": rows, **stored}]
    if fmt == ExportFormat.XLSX:
        assert directory is not None
        _title, header, rows = writers.xlsx_sheets(written)[index - 1]
        return [xlsx.sheet_part(index, header, rows, str(directory / f"datasets.xlsx.sheet{index}.part"))]
    dataset = written[index]
    if fmt == ExportFormat.XPT and writers.xpt_problems(dataset):
        return []  # its problems are errors of the conformance report: no truncated file
    return _format_files(export, dataset, directory, fmt)


def odm_file(export: Export, directory: Path | None = None) -> dict[str, Any]:
    """The captured data of the export's cut as CDISC ODM 1.3.2 (exports.odm), not a dataset:
    written to `directory` a subject at a time (issue 29 item 7), or in memory without one."""
    from exports import odm

    assert export.snapshot_at is not None
    at = export.snapshot_at
    stored = written_file(
        directory,
        odm.FILE_NAME,
        lambda out: odm.write_clinical_odm(
            out,
            study=export.study,
            site_ids=list(export.site_ids),
            cutoff=export.cutoff_date,
            at=at,
            created=at,
        ),
    )
    return {"dataset": "", "fmt": ExportFormat.ODM, "name": odm.FILE_NAME, "rows": None, **stored}


def _dataset_json_files(
    export: Export, dataset: datasets.Dataset, directory: Path | None = None, blocks: Any = None
) -> list[dict[str, Any]]:
    """<name>.json and <name>.ndjson (Dataset-JSON 1.1), their OIDs those of the define.xml."""
    assert export.snapshot_at is not None
    code = export.study.code
    part = "ADAM" if dataset.standard == metadata.ADAMIG else "SDTM"
    meta, rows = writers.dataset_json_parts(
        dataset,
        created=export.snapshot_at.astimezone(timezone.get_fixed_timezone(0)),
        study_oid=define.oid(f"ST.{code}"),
        metadata_version_oid=define.oid(f"MDV.{code}.{part}"),
        source_version=export.code_version,
        blocks=blocks,
    )
    names = [f"{dataset.name.lower()}.json", f"{dataset.name.lower()}.ndjson"]
    # both files from one reading of the rows (issue 29 item 7)
    stored = written_files(
        directory,
        names,
        lambda json_out, ndjson_out: writers.write_dataset_json_and_ndjson(meta, rows, json_out, ndjson_out),
    )
    rows_count = len(dataset.rows)
    return [
        {"dataset": dataset.name, "fmt": ExportFormat.JSON, "name": name, "rows": rows_count, **file}
        for name, file in zip(names, stored, strict=True)
    ]


#: standard → (define.xml name, its HTML rendering); both beside the stylesheet define2-1.xsl
DEFINE_XML = {
    metadata.SDTMIG: ("define.xml", "define.html"),
    metadata.ADAMIG: ("define-adam.xml", "define-adam.html"),
}


def define_xml_files(export: Export, built: list[datasets.Dataset]) -> list[dict[str, Any]]:
    """Define-XML 2.1 per standard exported (SDTM, ADaM), its HTML rendering, and the stylesheet
    the XML names (exports.define): the same export, the same bytes (created = snapshot time)."""
    assert export.snapshot_at is not None
    out: list[dict[str, Any]] = []
    for standard, (xml_name, html_name) in DEFINE_XML.items():
        if not any(d.standard == standard for d in built):
            continue
        document = define.define_xml(
            built,
            standard=standard,
            study_code=export.study.code,
            study_title=datasets.ascii_text(export.study.title),
            cutoff=export.cutoff_date.isoformat(),
            created=export.snapshot_at.astimezone(timezone.get_fixed_timezone(0)),
            source_version=export.code_version,
            protocol_version=export.protocol_version,
        )
        out.append({"dataset": "", "fmt": "xml", "name": xml_name, "rows": None, "content": document})
        out.append(
            {"dataset": "", "fmt": "html", "name": html_name, "rows": None, "content": define.define_html(document)}
        )
    if out:
        out.append(
            {"dataset": "", "fmt": "xsl", "name": define.STYLESHEET, "rows": None, "content": define.stylesheet()}
        )
    return out


def compute_export(*, export_id: int, now: datetime | None = None) -> Export:
    """Build one export (idempotent: a finished export is left as it is). The files are streamed
    to a scratch directory while the worker builds them and stored from there in the final
    transaction (jobs.services.run; the heartbeat beats through both)."""
    with tempfile.TemporaryDirectory(prefix=f"export-{export_id}-") as scratch:

        def work(export: Export, report: Callable[[int], None]) -> tuple[Any, ...]:
            built = build(export, report, directory=Path(scratch))
            report(90)
            return built

        return jobs.run(EXPORT_JOB, export_id, work=work, save_result=_store, now=now)


def _store(export: Export, built_findings_files: tuple[Any, ...]) -> list[str]:
    """The files, the dataset rows and the report, in the export's final transaction, one file
    (or part of one) and one dataset (or page of one) at a time."""
    built, findings, files = built_findings_files
    store_files(export, files)
    store_datasets(export, built)
    summary = checks.summary(findings)
    export.row_counts = {d.name: len(d.rows) for d in built}
    export.conformance = [f.as_dict() for f in findings]
    export.conformance_errors = summary[ERROR]
    export.conformance_warnings = summary[WARNING]
    return ["row_counts", "conformance", "conformance_errors", "conformance_warnings"]


def _in_order(items: Iterable[Any], weight: Callable[[Any], int], limit: int) -> Iterator[tuple[bool, list[Any]]]:
    """`items` in their order as (True, a batch of consecutive items each of weight ≤ `limit`,
    together ≤ `limit`) or (False, [one item over `limit`])."""
    batch: list[Any] = []
    total = 0
    for item in items:
        heavy = weight(item) > limit
        if batch and (heavy or total + weight(item) > limit):
            yield True, batch
            batch, total = [], 0
        if heavy:
            yield False, [item]
        else:
            batch.append(item)
            total += weight(item)
    if batch:
        yield True, batch


def store_files(export: Export, files: list[dict[str, Any]]) -> None:
    """The files of the export, in order: one INSERT per run of files of up to INLINE_MAX_BYTES
    in all (a small export in one); a file over INLINE_MAX_BYTES alone with its parts, read
    from its path PART_BYTES at a time."""

    def size(item: dict[str, Any]) -> int:
        return len(item["content"]) if "content" in item else int(item["size_bytes"])

    for small, batch in _in_order(files, size, INLINE_MAX_BYTES):
        if small:
            contents = [item["content"] if "content" in item else item["path"].read_bytes() for item in batch]
            ExportFile.objects.bulk_create(
                _file_row(export, item, len(content), hashlib.sha256(content).hexdigest(), content)
                for item, content in zip(batch, contents, strict=True)
            )
            continue
        item = batch[0]
        if "content" in item:  # a large file built in memory (e.g. a define.xml)
            sha256 = hashlib.sha256(item["content"]).hexdigest()
            file = _file_row(export, item, len(item["content"]), sha256, b"")
            reader: Any = io.BytesIO(item["content"])
        else:
            file = _file_row(export, item, item["size_bytes"], item["sha256"], b"")
            reader = item["path"].open("rb")
        file.save()
        with reader:
            for number, piece in enumerate(iter(lambda r=reader: r.read(PART_BYTES), b"")):
                ExportFilePart.objects.create(file=file, number=number, data=piece)


def _file_row(export: Export, item: dict[str, Any], size: int, sha256: str, content: bytes) -> ExportFile:
    return ExportFile(
        export=export,
        dataset=item["dataset"],
        fmt=item["fmt"],
        name=item["name"],
        rows=item["rows"],
        size_bytes=size,
        sha256=sha256,
        content=content,
    )


def store_datasets(export: Export, built: list[datasets.Dataset]) -> None:
    """The datasets' rows for the API: up to INLINE_MAX_ROWS rows in ExportDataset.rows (one
    INSERT per batch of up to INLINE_MAX_ROWS rows), a larger dataset in pages of PART_ROWS."""

    def row(dataset: datasets.Dataset, rows: list[list[Any]]) -> ExportDataset:
        return ExportDataset(
            export=export,
            name=dataset.name,
            label=dataset.label,
            columns=[{"name": c.name, "label": c.label, "type": c.type} for c in dataset.columns],
            rows=rows,
            row_count=len(dataset.rows),
        )

    for small, batch in _in_order(built, lambda d: len(d.rows), INLINE_MAX_ROWS):
        if small:
            ExportDataset.objects.bulk_create(row(d, writers.json_rows(d)) for d in batch)
            continue
        dataset = batch[0]
        stored = row(dataset, [])
        stored.save()
        for number, start in enumerate(range(0, len(dataset.rows), PART_ROWS)):
            rows = writers.json_rows(dataset, start, start + PART_ROWS)
            ExportDatasetPart.objects.create(dataset=stored, number=number, rows=rows)


def dataset_rows(dataset: ExportDataset, offset: int, limit: int) -> list[list[Any]]:
    """Rows offset … offset + limit of a stored dataset, inline or from the pages covering them."""
    if dataset.row_count <= INLINE_MAX_ROWS:
        return list(dataset.rows[offset : offset + limit])
    first, last = offset // PART_ROWS, (offset + limit - 1) // PART_ROWS
    pages = ExportDatasetPart.objects.filter(dataset=dataset, number__gte=first, number__lte=last).order_by("number")
    rows: list[list[Any]] = []
    for page in pages.values_list("rows", flat=True):
        rows.extend(page)
    start = offset - first * PART_ROWS
    return rows[start : start + limit]


def file_response(file: ExportFile, content_type: str) -> Any:
    """The HTTP response of one stored file: its bytes, or streamed part by part when stored in
    parts (issue 29 item 7)."""
    from django.http import HttpResponse, StreamingHttpResponse

    if file.size_bytes > INLINE_MAX_BYTES and ExportFilePart.objects.filter(file=file).exists():
        response: Any = StreamingHttpResponse(file_pieces(file.pk), content_type=content_type)
        response["Content-Length"] = str(file.size_bytes)
        return response
    return HttpResponse(bytes(file.content), content_type=content_type)


def file_pieces(file_id: int) -> Iterator[bytes]:
    """The stored bytes of an export file, a part (or a PART_BYTES slice of an inline file) at a
    time: a download never holds the whole file."""
    from django.db import connection

    parts = list(ExportFilePart.objects.filter(file_id=file_id).order_by("number").values_list("pk", flat=True))
    if parts:
        for pk in parts:
            yield bytes(ExportFilePart.objects.values_list("data", flat=True).get(pk=pk))
        return
    size = ExportFile.objects.values_list("size_bytes", flat=True).get(pk=file_id)
    table = ExportFile._meta.db_table
    for start in range(0, size, PART_BYTES):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT substring(content FROM %s FOR %s) FROM {table} WHERE id = %s",  # noqa: S608
                [start + 1, PART_BYTES, file_id],
            )
            yield bytes(cursor.fetchone()[0])


def record_download(
    *, user: User, export: Export, what: str, channel: str = DownloadChannel.PAGE, file: ExportFile | None = None
) -> ExportDownload:
    """Audit one download (or API read) of an export's content."""
    return ExportDownload.objects.create(
        export=export, file=file, what=what[:60], user=user, at=timezone.now(), channel=channel
    )
