"""Exports: requesting one, building it, recording downloads (DESIGN §3 exports/, §4a, §5).

The pattern of endpoint runs (endpoints.services): an export is requested in one transaction
with its outbox row; the relay hands it to Celery (`exports.tasks.build_export`). Building reads
the data ONCE at the export's snapshot time from the audit trail (exports.sdtm.load → a
reproducible data cut), limited to the sites the requester may export and to records dated on or
before the clinical cut-off; reports progress in short transactions; and writes the files, the
dataset rows, the conformance report and the "succeeded" status in ONE transaction at the end,
guarded by the attempt number (a worker killed mid-export leaves no file; a superseded attempt
writes nothing). An export whose conformance report has errors still succeeds and is marked so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crf import jobs
from crf.audit import audit_context
from exports import checks, datasets, define, metadata, sdtm, writers
from exports.findings import ERROR, WARNING
from exports.models import (
    DownloadChannel,
    Export,
    ExportDataset,
    ExportDownload,
    ExportFile,
    ExportFormat,
    ExportStatus,
    ExportTrigger,
)
from study import access
from study.models import Site, Study
from study.roles import Action

if TYPE_CHECKING:
    from study.models import User

logger = logging.getLogger(__name__)

TASK_NAME = "exports.tasks.build_export"
#: the audit reasons of the lifecycle say "export started", "export failed", … (crf.jobs)
NOUN = "export"
#: DESIGN §4a: "start endpoint runs and de-identified exports"
EXPORT_ACTION = Action.START_ENDPOINT_RUNS
DEFINE_FILE = "define.json"


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
    from crf.outbox import enqueue

    now = now or timezone.now()
    if actor is not None and not access.can_anywhere(actor, EXPORT_ACTION, study=study):
        raise PermissionDenied
    names = list(dict.fromkeys(dataset_names or available_datasets()))
    chosen_formats = list(dict.fromkeys(formats or [ExportFormat.CSV, ExportFormat.XPT]))
    errors: dict[str, str] = {}
    unknown = [n for n in names if n not in available_datasets()]
    if not names or unknown:
        errors["datasets"] = _("Unknown datasets: %(names)s. Choose from %(choices)s.") % {
            "names": ", ".join(unknown) or "-",
            "choices": ", ".join(available_datasets()),
        }
    if not chosen_formats or any(f not in ExportFormat.values for f in chosen_formats):
        errors["formats"] = _("Choose one or more of the formats offered.")
    if snapshot_at is not None and timezone.is_naive(snapshot_at):
        errors["snapshot_at"] = _("Give the snapshot time with its time zone.")
    elif snapshot_at is not None and snapshot_at > now:
        errors["snapshot_at"] = _("The snapshot time cannot be in the future.")
    if cutoff_date > now.date():
        errors["cutoff_date"] = _("The clinical cut-off date cannot be in the future.")
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
    )
    export.full_clean()
    with audit_context(user=actor, reason="export requested"):
        export.save()
        enqueue(task_name=TASK_NAME, export_id=export.pk)
    return export


def _claim(export_id: int, now: datetime) -> tuple[Export, int] | None:
    return jobs.claim(Export, export_id, noun=NOUN, now=now)


def _progress(export_id: int, attempt: int, value: int) -> None:
    jobs.progress(Export, export_id, attempt, value)


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


def build(export: Export, progress: Any = None) -> tuple[list[datasets.Dataset], list[Any], list[dict[str, Any]]]:
    """Load the cut once, build the datasets, check them, and render the files (no writes)."""
    assert export.snapshot_at is not None
    data = sdtm.load(
        study=export.study, site_ids=list(export.site_ids), cutoff=export.cutoff_date, at=export.snapshot_at
    )
    if progress:
        progress(20)
    pause = float(getattr(settings, "EXPORT_STEP_PAUSE_SECONDS", 0) or 0)

    def step(index: int, total: int) -> None:
        if pause:
            time.sleep(min(pause, 60.0))
        if progress:
            progress(20 + 50 * index // total)

    built = datasets.build_all(data, export.datasets, step)
    findings = checks.conformance(built, data.text_changes)
    if progress:
        progress(75)
    files: list[dict[str, Any]] = []
    for dataset in built:
        if not dataset.rows:
            continue  # an empty dataset is not submitted: no file (a note in the report)
        for fmt in export.formats:
            if fmt == ExportFormat.XPT:
                try:
                    # headers stamped with the snapshot UTC time, not the clock: the same export, the same bytes
                    content = writers.xpt_bytes(
                        dataset, stamped=export.snapshot_at.astimezone(timezone.get_fixed_timezone(0))
                    )
                except writers.XptError:
                    continue  # its problems are errors of the conformance report: no truncated file
            elif fmt == ExportFormat.XLSX:
                continue  # one workbook of every dataset, below
            elif fmt == ExportFormat.JSON:
                files.extend(_dataset_json_files(export, dataset))
                continue
            else:
                content = writers.csv_bytes(dataset)
            files.append(
                {
                    "dataset": dataset.name,
                    "fmt": fmt,
                    "name": f"{dataset.name.lower()}.{fmt}",
                    "rows": len(dataset.rows),
                    "content": content,
                }
            )
    if ExportFormat.XLSX in export.formats:
        written = [d for d in built if d.rows]
        files.append(
            {
                "dataset": "",
                "fmt": ExportFormat.XLSX,
                "name": "datasets.xlsx",
                "rows": sum(len(d.rows) for d in written),
                "content": writers.xlsx_bytes(written),
            }
        )
    define = _canonical(define_document(export, built)).encode()
    files.append({"dataset": "", "fmt": "json", "name": DEFINE_FILE, "rows": None, "content": define})
    files.extend(define_xml_files(export, [d for d in built if d.rows]))
    return built, findings, files


def _dataset_json_files(export: Export, dataset: datasets.Dataset) -> list[dict[str, Any]]:
    """<name>.json and <name>.ndjson (Dataset-JSON 1.1), their OIDs those of the define.xml."""
    assert export.snapshot_at is not None
    code = export.study.code
    part = "ADAM" if dataset.standard == metadata.ADAMIG else "SDTM"
    out = []
    for suffix, write in (("json", writers.dataset_json_bytes), ("ndjson", writers.dataset_ndjson_bytes)):
        meta, rows = writers.dataset_json_parts(
            dataset,
            created=export.snapshot_at.astimezone(timezone.get_fixed_timezone(0)),
            study_oid=define.oid(f"ST.{code}"),
            metadata_version_oid=define.oid(f"MDV.{code}.{part}"),
            source_version=export.code_version,
        )
        out.append(
            {
                "dataset": dataset.name,
                "fmt": ExportFormat.JSON,
                "name": f"{dataset.name.lower()}.{suffix}",
                "rows": len(dataset.rows),
                "content": write(meta, rows),
            }
        )
    return out


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
    """Build one export (idempotent: a finished export is left as it is)."""
    started = time.monotonic()
    claimed = _claim(export_id, now or timezone.now())
    if claimed is None:
        return Export.objects.get(pk=export_id)
    export, attempt = claimed
    try:
        with jobs.beating(Export, export_id, attempt):
            built, findings, files = build(export, lambda value: _progress(export_id, attempt, value))
        _progress(export_id, attempt, 90)
    except Exception as exc:  # recorded on the export: the page and the API show why it failed
        logger.exception("export %s failed", export_id)
        _finish_failed(export_id, attempt, f"{type(exc).__name__}: {exc}", started)
        return Export.objects.get(pk=export_id)
    with transaction.atomic():
        current = Export.objects.select_for_update().get(pk=export_id)
        if current.attempts != attempt or current.status != ExportStatus.RUNNING:
            logger.warning("export %s attempt %s superseded; its files are dropped", export_id, attempt)
            return current
        ExportFile.objects.bulk_create(
            ExportFile(
                export=current,
                dataset=item["dataset"],
                fmt=item["fmt"],
                name=item["name"],
                rows=item["rows"],
                size_bytes=len(item["content"]),
                sha256=hashlib.sha256(item["content"]).hexdigest(),
                content=item["content"],
            )
            for item in files
        )
        ExportDataset.objects.bulk_create(
            ExportDataset(
                export=current,
                name=dataset.name,
                label=dataset.label,
                columns=[{"name": c.name, "label": c.label, "type": c.type} for c in dataset.columns],
                rows=writers.json_rows(dataset),
                row_count=len(dataset.rows),
            )
            for dataset in built
        )
        summary = checks.summary(findings)
        current.row_counts = {d.name: len(d.rows) for d in built}
        current.conformance = [f.as_dict() for f in findings]
        current.conformance_errors = summary[ERROR]
        current.conformance_warnings = summary[WARNING]
        current.status = ExportStatus.SUCCEEDED
        current.progress = 100
        current.finished_at = timezone.now()
        current.duration_ms = int((time.monotonic() - started) * 1000)
        with audit_context(user=None, reason="export finished"):
            current.save()
    return current


def _finish_failed(export_id: int, attempt: int, error: str, started: float) -> None:
    jobs.finish_failed(Export, export_id, attempt, error, noun=NOUN, started=started)


def fail_stuck_exports(*, now: datetime | None = None) -> list[int]:
    """Mark failed the exports still "running" past the task time limit (their worker is gone)."""
    return jobs.fail_stuck(Export, noun=NOUN, now=now)


def recover_stuck_exports(*, now: datetime | None = None) -> list[int]:
    """Requeue the exports whose worker stopped beating (crf.jobs.recover_stuck)."""
    return jobs.recover_stuck(Export, noun=NOUN, task_name=TASK_NAME, id_kwarg="export_id", now=now)


def record_download(
    *, user: User, export: Export, what: str, channel: str = DownloadChannel.PAGE, file: ExportFile | None = None
) -> ExportDownload:
    """Audit one download (or API read) of an export's content."""
    return ExportDownload.objects.create(
        export=export, file=file, what=what[:60], user=user, at=timezone.now(), channel=channel
    )
