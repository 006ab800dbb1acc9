"""PDF documents as background jobs (issue 26 item 2): requesting one, building it, who may see
it, and every download (DESIGN §2 outbox, §4a; the job lifecycle of `jobs.services`).

Who (DESIGN §4a, `Action.CASEBOOK_PDF`): data managers and study admins at their sites,
investigators at their own sites; coordinators, monitors and statisticians are refused (403).
The gate holds inside the documents: a casebook needs the right at the subject's site; the
study archive holds only the subjects of the sites where the requester has it (`site_ids`,
fixed when requested); the blank and annotated CRF hold no subject data and need the right at
any site of the study. Reading a job (page, API, download) needs the right at every site it
covers.

Building (`compute`, through `jobs.services.run`) renders in the worker with no write but progress,
then stores the file, its SHA-256, size and page count with "succeeded" in one transaction.
The archive is a ZIP of every casebook (`casebook-<subject ID>.pdf`) and `manifest.csv`
(file, subject, site, pages, bytes, SHA-256 of each casebook).
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from datamanagement import pdfs
from datamanagement.models import PdfDownload, PdfJob, PdfKind, PdfLanguage
from jobs import services as jobs
from jobs.kinds import JobKind
from jobs.models import JobTrigger
from study import access
from study.audit_context import audit_context
from study.models import Study
from study.roles import Action
from study.subject_models import subject_model

if TYPE_CHECKING:
    from study.models import User

TASK_NAME = "datamanagement.tasks.build_pdf"
NOUN = "PDF document"
#: the job kind of a PDF document (jobs.kinds; registered in DataManagementConfig.ready)
PDF_JOB = JobKind(model=PdfJob, noun=NOUN, task_name=TASK_NAME, id_kwarg="job_id")
ACTION = Action.CASEBOOK_PDF
MANIFEST = "manifest.csv"


def subject_label(subject: Any) -> str:
    return subject.subject_id or subject.screening_number or f"subject-{subject.pk}"


@transaction.atomic
def request_pdf(
    *,
    actor: User,
    study: Study,
    kind: str,
    language: str,
    subject: Any = None,
    trigger: str = JobTrigger.PAGE,
    now: datetime | None = None,
) -> PdfJob:
    """Record the request and its outbox row in one transaction (DESIGN §2)."""
    errors: dict[str, str] = {}
    if kind not in PdfKind.values:
        errors["kind"] = _("Choose one of the documents offered.")
    if language not in PdfLanguage.values:
        errors["language"] = _("Choose English or Chinese.")
    if kind == PdfKind.CASEBOOK and subject is None:
        errors["subject"] = _("Choose the subject whose casebook to generate.")
    if errors:
        raise ValidationError(errors)
    if kind == PdfKind.CASEBOOK:
        assert subject is not None
        if subject.site.study_id != study.pk:
            raise ValidationError({"subject": _("This subject is not in the study.")})
        if not access.can(actor, ACTION, site=subject.site):
            raise PermissionDenied
        site_ids = [subject.site_id]
    else:
        subject = None
        if not access.can_anywhere(actor, ACTION, study=study):
            raise PermissionDenied
        sites = access.sites_where(actor, ACTION).filter(study=study)
        site_ids = sorted(sites.values_list("pk", flat=True)) if kind == PdfKind.ARCHIVE else []
    job = PdfJob(
        study=study,
        kind=kind,
        subject=subject,
        site_ids=site_ids,
        language=language,
        requested_by=actor,
        requested_at=now or timezone.now(),
        trigger=trigger,
    )
    return jobs.request(PDF_JOB, job, actor=actor, exclude=["content"])


# --- who may see a job ---------------------------------------------------------------------------


def jobs_visible_to(user: User, *, study: Study | None = None) -> QuerySet[PdfJob]:
    """The jobs whose every covered site the user holds the right at (the CRFs: any site of their
    study)."""
    allowed = list(access.sites_where(user, ACTION).values_list("pk", "study_id"))
    site_ids = [pk for pk, _study in allowed]
    studies = {study_id for _pk, study_id in allowed}
    rows = PdfJob.objects.filter(study_id__in=studies).select_related("requested_by", "subject", "study")
    if study is not None:
        rows = rows.filter(study=study)
    return rows.filter(site_ids__contained_by=site_ids).defer("content")


def access_job(user: User, pk: int | str) -> PdfJob:
    """The job if the user may read it: 404 outside the gate (DESIGN §4a)."""
    try:
        return jobs_visible_to(user).get(pk=pk)
    except (PdfJob.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def may_generate(user: User) -> bool:
    return access.sites_where(user, ACTION).exists()


# --- building --------------------------------------------------------------------------------------


def _file_name(job: PdfJob) -> str:
    lang = "zh" if job.language == PdfLanguage.CHINESE else "en"
    code = job.study.code
    if job.kind == PdfKind.CASEBOOK:
        assert job.subject is not None
        return f"casebook-{subject_label(job.subject)}-{lang}.pdf"
    if job.kind == PdfKind.ARCHIVE:
        return f"{code}-casebooks-{lang}.zip"
    if job.kind == PdfKind.ANNOTATED_CRF:
        return "acrf.pdf"  # the name define.xml's def:leaf points at (exports.define.ACRF)
    return f"{code}-blank-crf-{lang}.pdf"


def _casebook(job: PdfJob, subject: Any, now: datetime) -> pdfs.Rendered:
    assert job.requested_by is not None and job.snapshot_at is not None
    return pdfs.casebook_pdf(
        subject=subject, language=job.language, generated_by=job.requested_by, generated_at=now, cut_at=job.snapshot_at
    )


def archive_subjects(job: PdfJob) -> list[Any]:
    return list(
        subject_model()
        .objects.filter(site_id__in=job.site_ids, site__study=job.study)
        .select_related("site__study")
        .order_by("site__code", "subject_id", "screening_number", "pk")
    )


def build_archive(job: PdfJob, report: Callable[[int], None], now: datetime) -> tuple[bytes, int, int]:
    """(ZIP bytes, total pages, casebooks): every subject's casebook plus the manifest."""
    buffer = io.BytesIO()
    stamp = timezone.localtime(job.snapshot_at or now, timezone.get_fixed_timezone(0)).timetuple()[:6]
    manifest = io.StringIO()
    writer = csv.writer(manifest, lineterminator="\n")
    writer.writerow(["file", "subject", "site", "pages", "bytes", "sha256"])
    subjects = archive_subjects(job)
    total_pages = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, subject in enumerate(subjects, start=1):
            rendered = _casebook(job, subject, now)
            name = f"casebook-{subject_label(subject)}.pdf"
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), rendered.content, zipfile.ZIP_DEFLATED)
            writer.writerow(
                [
                    name,
                    subject_label(subject),
                    subject.site.code,
                    rendered.pages,
                    len(rendered.content),
                    hashlib.sha256(rendered.content).hexdigest(),
                ]
            )
            total_pages += rendered.pages
            _pause()
            report(5 + 90 * index // max(len(subjects), 1))
        archive.writestr(zipfile.ZipInfo(MANIFEST, date_time=stamp), manifest.getvalue().encode(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue(), total_pages, len(subjects)


def _work(job: PdfJob, report: Callable[[int], None]) -> dict[str, Any]:
    now = timezone.now()
    assert job.requested_by is not None
    if job.kind == PdfKind.ARCHIVE:
        content, pages, documents = build_archive(job, report, now)
        return {"content": content, "pages": pages, "documents": documents}
    if job.kind == PdfKind.CASEBOOK:
        assert job.subject is not None
        rendered = _casebook(job, subject_model().objects.select_related("site__study").get(pk=job.subject_id), now)
    else:
        rendered = pdfs.crf_pdf(
            study=job.study,
            language=job.language,
            annotated=job.kind == PdfKind.ANNOTATED_CRF,
            generated_by=job.requested_by,
            generated_at=now,
        )
    report(90)
    _pause()
    return {"content": rendered.content, "pages": rendered.pages, "documents": None}


def _pause() -> None:
    """PDF_STEP_PAUSE_SECONDS after a document is rendered (0 in production): fault tests kill a
    worker mid-build."""
    if settings.PDF_STEP_PAUSE_SECONDS:
        time.sleep(min(float(settings.PDF_STEP_PAUSE_SECONDS), 60.0))


def _save(job: PdfJob, result: dict[str, Any]) -> list[str]:
    job.content = result["content"]
    job.sha256 = hashlib.sha256(result["content"]).hexdigest()
    job.size_bytes = len(result["content"])
    job.pages = result["pages"]
    job.documents = result["documents"]
    job.file_name = _file_name(job)
    return ["content", "sha256", "size_bytes", "pages", "documents", "file_name"]


def compute(*, job_id: int) -> PdfJob:
    """Build one document (idempotent: a finished job is left as it is)."""
    return jobs.run(PDF_JOB, job_id, work=_work, save_result=_save)


def record_download(*, user: User, job: PdfJob, channel: str = JobTrigger.PAGE) -> PdfDownload:
    """Audit one download of a document (append-only rows, tracked by pghistory)."""
    with audit_context(user=user, reason=f"{NOUN} downloaded"):
        return PdfDownload.objects.create(job=job, user=user, at=timezone.now(), channel=channel)
