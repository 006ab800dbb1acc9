"""PDF casebooks, the study archive, the blank and annotated CRF (issue 26 item 2; DESIGN §4a,
§4 "Identity record", "E-signatures"; 21 CFR Part 11 §11.50 manifestation).

Every document is built the way the worker builds it (the job requested through the service —
its outbox row checked — then the Celery task's body run) and read back with pypdf: page
count, header and "page x of y" on every page, a known value, a known audit reason, a signature
manifestation, Chinese text extractable, and never the identity record's name."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from pypdf import PdfReader

from crf.models import Query
from crf.outbox import OutboxMessage
from crf.queries import answer_query, raise_query
from crf.sdv import mark_verified
from datamanagement import pdf_jobs, signatures, tasks
from datamanagement.models import PdfDownload, PdfDownloadEvent, PdfJob, PdfJobEvent, PdfKind
from study.models import Membership
from tests.conftest import PASSWORD, make_user
from tests.factories import identity

pytestmark = pytest.mark.req("ISSUE-26")

IDENTITY_VALUES = ("张三", "H001", "13800000000", "1990-05-01")


def pdf_text(content: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(content))
    return reader, [page.extract_text() for page in reader.pages]


def flat(pages: list[str]) -> str:
    """The pages' text with every run of white space (table cells wrap) as one space."""
    return " ".join(" ".join(pages).split())


@pytest.fixture
def casebook_subject(vs, save_vs, users_a, rf):
    """Subject A-001: vital signs saved (systolic 120), corrected to 135 with a reason, a
    query raised and answered, the form source-verified, then signed by the investigator (form
    and casebook)."""
    vs = save_vs(vs, systolic_bp=135, reason="transcription error")
    query = raise_query(user=users_a["data_manager"], form=vs, field_name="heart_rate", text="Heart rate missing?")
    answer_query(user=users_a["coordinator"], query=query, answer=Query.Answer.CONFIRMED, text="not measured")
    mark_verified(user=users_a["monitor"], form=vs)
    request = rf.post("/")
    request.session = {}
    for scope, form in (("form", vs), ("casebook", None)):
        signatures.sign(
            request=request,
            user=users_a["investigator"],
            subject=vs.subject,
            scope=scope,
            form=form,
            meaning="reviewed_approved",
            username=users_a["investigator"].username,
            password=PASSWORD,
        )
    return vs.subject


def build(actor, **kwargs) -> PdfJob:
    job = pdf_jobs.request_pdf(actor=actor, **kwargs)
    message = OutboxMessage.objects.get(task_name="datamanagement.tasks.build_pdf", kwargs__job_id=job.pk)
    assert tasks.build_pdf(job_id=job.pk, outbox_id=message.pk) == "succeeded", PdfJob.objects.get(pk=job.pk).error
    return PdfJob.objects.get(pk=job.pk)


def test_casebook_pdf_in_chinese_reads_back(casebook_subject, users_a, study):
    job = build(
        users_a["data_manager"], study=study, kind=PdfKind.CASEBOOK, subject=casebook_subject, language="zh-hans"
    )
    content = bytes(job.content)
    assert job.sha256 == hashlib.sha256(content).hexdigest() and job.size_bytes == len(content)
    assert job.file_name == "casebook-A-001-zh.pdf"
    reader, pages = pdf_text(content)
    assert len(reader.pages) == job.pages >= 2
    text = flat(pages)
    # header and "page x of y" on every page, in Chinese
    for number, page in enumerate(pages, start=1):
        assert "test-study · Site A · 受试者 A-001" in page, number
        assert f"第 {number} 页，共 {len(pages)} 页" in page, number
    # the cover: study, site, subject, data cut and generation time with the site's zone, by whom
    assert "病例记录 · A-001" in pages[0]
    assert re.search(r"生成时间 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", pages[0]), pages[0]
    assert "生成人 data_manager_a" in pages[0]
    # a known value through the display layer (label in Chinese, unit from the label)
    assert "收缩压（mmHg） 135 mmHg" in text
    # the audit trail: who, field, old → new, reason
    assert "收缩压（mmHg） 120 mmHg → 135 mmHg transcription error" in text
    # the query with its steps, the SDV mark
    assert "Heart rate missing?" in text and "not measured" in text
    assert "整个表单 2 monitor_a" in text
    # the signature manifestations (§11.50): printed name, date-time with zone, meaning
    assert re.search(
        r"investigator_a · \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai, UTC\+08:00\) · 已审阅并批准 · 病例报告表", text
    )
    # the identity record is never printed
    for value in IDENTITY_VALUES:
        assert value not in text


def test_casebook_pdf_in_english(casebook_subject, users_a, study):
    job = build(users_a["investigator"], study=study, kind=PdfKind.CASEBOOK, subject=casebook_subject, language="en")
    _reader, pages = pdf_text(bytes(job.content))
    text = flat(pages)
    assert "Casebook · A-001" in pages[0] and "Generated by investigator_a" in pages[0]
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert "Systolic BP (mmHg) 120 mmHg → 135 mmHg transcription error" in text
    assert "Reviewed and approved" in text
    for value in IDENTITY_VALUES:
        assert value not in text


# --- the study archive ---------------------------------------------------------------------------


def read_archive(job: PdfJob) -> tuple[dict[str, bytes], list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(bytes(job.content))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = list(csv.DictReader(io.StringIO(files.pop("manifest.csv").decode())))
    return files, manifest


def test_archive_holds_every_casebook_with_a_manifest_whose_hashes_match(
    casebook_subject, users_a, study, site_b, subject_b
):
    identity(subject_b)
    manager = make_user("data_manager_ab", site=site_b, role="data_manager")
    Membership.objects.create(user=manager, site=casebook_subject.site, role="data_manager", granted_at=timezone.now())
    job = build(manager, study=study, kind=PdfKind.ARCHIVE, language="en")
    assert job.file_name == "test-study-casebooks-en.zip" and job.documents == 2
    assert job.sha256 == hashlib.sha256(bytes(job.content)).hexdigest()
    files, manifest = read_archive(job)
    assert sorted(files) == ["casebook-A-001.pdf", "casebook-B-001.pdf"]
    assert [(row["file"], row["subject"], row["site"]) for row in manifest] == [
        ("casebook-A-001.pdf", "A-001", "01"),
        ("casebook-B-001.pdf", "B-001", "02"),
    ]
    for row in manifest:
        content = files[row["file"]]
        assert row["sha256"] == hashlib.sha256(content).hexdigest()
        assert int(row["bytes"]) == len(content)
        reader, pages = pdf_text(content)
        assert int(row["pages"]) == len(reader.pages)
        assert f"Casebook · {row['subject']}" in pages[0]
        for value in IDENTITY_VALUES:
            assert value not in flat(pages)
    assert job.pages == sum(int(row["pages"]) for row in manifest)
    assert "120 mmHg → 135 mmHg transcription error" in flat(pdf_text(files["casebook-A-001.pdf"])[1])


def test_an_investigators_archive_holds_only_their_sites(casebook_subject, users_a, study, site_b, subject_b):
    investigator = users_a["investigator"]
    job = build(investigator, study=study, kind=PdfKind.ARCHIVE, language="zh-hans")
    assert job.site_ids == [casebook_subject.site_id]
    files, manifest = read_archive(job)
    assert sorted(files) == ["casebook-A-001.pdf"] and [row["subject"] for row in manifest] == ["A-001"]
    # another site's investigator does not see the archive of site A
    elsewhere = make_user("investigator_b", site=site_b, role="investigator")
    assert not pdf_jobs.jobs_visible_to(elsewhere).filter(pk=job.pk).exists()
    with pytest.raises(Http404):
        pdf_jobs.access_job(elsewhere, job.pk)


# --- who may generate (DESIGN §4a) -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "monitor", "statistician"])
def test_roles_that_may_not_generate_are_refused(role, vs, users_a, study, client, login):
    user = users_a[role]
    for kind, subject in ((PdfKind.CASEBOOK, vs.subject), (PdfKind.ARCHIVE, None), (PdfKind.ANNOTATED_CRF, None)):
        with pytest.raises(PermissionDenied):
            pdf_jobs.request_pdf(actor=user, study=study, kind=kind, subject=subject, language="en")
    assert PdfJob.objects.count() == 0
    login(user)
    assert client.get("/data/pdfs/").status_code == 403
    assert client.post("/data/pdfs/", {"kind": "archive", "language": "en"}).status_code == 403
    # within their own site: 403 (DESIGN §4a), and nothing requested
    assert client.post(f"/data/pdfs/casebook/{vs.subject_id}/", {"language": "en"}).status_code == 403
    assert PdfJob.objects.count() == 0
    assert "Generate the PDF casebook" not in client.get(f"/subjects/{vs.subject_id}/casebook/").content.decode()


def test_investigators_only_at_their_own_sites(vs, users_a, study, site_b):
    elsewhere = make_user("investigator_b", site=site_b, role="investigator")
    with pytest.raises(PermissionDenied):
        pdf_jobs.request_pdf(actor=elsewhere, study=study, kind=PdfKind.CASEBOOK, subject=vs.subject, language="en")
    # a study admin and a data manager at the site may
    for role in ("study_admin", "data_manager", "investigator"):
        job = pdf_jobs.request_pdf(
            actor=users_a[role], study=study, kind=PdfKind.CASEBOOK, subject=vs.subject, language="en"
        )
        assert job.site_ids == [vs.subject.site_id]


def test_bad_requests_are_field_errors(vs, users_a, study):
    manager = users_a["data_manager"]
    with pytest.raises(ValidationError) as refused:
        pdf_jobs.request_pdf(actor=manager, study=study, kind="poster", language="fr")
    assert set(refused.value.message_dict) == {"kind", "language"}
    with pytest.raises(ValidationError) as refused:
        pdf_jobs.request_pdf(actor=manager, study=study, kind=PdfKind.CASEBOOK, language="en")
    assert set(refused.value.message_dict) == {"subject"}


# --- pages and API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_casebook_page_requests_and_the_download_is_recorded(language, vs, users_a, client, login):
    investigator = users_a["investigator"]
    investigator.language = language
    investigator.save(update_fields=["language"])
    login(investigator)
    page = client.get(f"/subjects/{vs.subject_id}/casebook/").content.decode()
    assert ("Generate the PDF casebook" if language == "en" else "生成 PDF 病例记录") in page
    response = client.post(f"/data/pdfs/casebook/{vs.subject_id}/", {"language": language})
    job = PdfJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/data/pdfs/{job.pk}/"
    assert (job.kind, job.subject_id, job.language, job.trigger) == ("casebook", vs.subject_id, language, "page")
    assert client.get(f"/data/pdfs/{job.pk}/download/").status_code == 404  # not built yet
    tasks.build_pdf(job_id=job.pk)
    detail = client.get(f"/data/pdfs/{job.pk}/").content.decode()
    job.refresh_from_db()
    assert job.sha256 in detail
    download = client.get(f"/data/pdfs/{job.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download["X-Content-SHA256"] == job.sha256
    assert download["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert hashlib.sha256(download.content).hexdigest() == job.sha256
    (recorded,) = PdfDownload.objects.filter(job=job)
    assert (recorded.user, recorded.channel) == (investigator, "page")
    assert PdfDownloadEvent.objects.filter(pgh_obj_id=recorded.pk, pgh_label="insert").exists()


def test_data_management_page_requests_the_crfs(vs, users_a, client, login):
    login(users_a["study_admin"])
    page = client.get("/data/pdfs/")
    assert page.status_code == 200 and "Annotated CRF (PDF)" in page.content.decode()
    response = client.post("/data/pdfs/", {"kind": "annotated_crf", "language": "en"})
    job = PdfJob.objects.get()
    assert response.status_code == 302 and (job.kind, job.site_ids, job.subject) == ("annotated_crf", [], None)
    refused = client.post("/data/pdfs/", {"kind": "casebook", "language": "en"})
    assert refused.status_code == 400 and PdfJob.objects.count() == 1


def test_api_requests_polls_and_downloads(vs, users_a, client, api_token):
    token = api_token(users_a["data_manager"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    created = client.post(
        "/api/v1/pdfs/", {"kind": "casebook", "subject": vs.subject_id, "language": "zh-hans"}, **auth
    )
    assert created.status_code == 202, created.content
    body = created.json()
    assert (body["kind"], body["subject"], body["status"], body["trigger"]) == ("casebook", "A-001", "queued", "api")
    tasks.build_pdf(job_id=body["id"])
    polled = client.get(f"/api/v1/pdfs/{body['id']}/", **auth).json()
    assert polled["status"] == "succeeded" and polled["pages"] >= 2 and len(polled["sha256"]) == 64
    download = client.get(f"/api/v1/pdfs/{body['id']}/download/", **auth)
    assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == polled["sha256"]
    assert PdfDownload.objects.get().channel == "api"
    bad = client.post("/api/v1/pdfs/", {"kind": "casebook", "language": "en"}, **auth)
    assert bad.status_code == 400 and "subject" in bad.json()
    statistician = {"HTTP_AUTHORIZATION": f"Token {api_token(users_a['statistician'])}"}
    assert client.post("/api/v1/pdfs/", {"kind": "archive"}, **statistician).status_code == 403
    assert client.get("/api/v1/pdfs/", **statistician).status_code == 403
    assert client.get(f"/api/v1/pdfs/{body['id']}/", **statistician).status_code == 404


def test_a_job_left_running_by_a_dead_worker_is_failed(vs, users_a, study):
    job = pdf_jobs.request_pdf(actor=users_a["data_manager"], study=study, kind=PdfKind.BLANK_CRF, language="en")
    PdfJob.objects.filter(pk=job.pk).update(status="running", attempts=2, started_at=timezone.now())
    assert tasks.build_pdf(job_id=job.pk) == "failed"
    job.refresh_from_db()
    assert job.error == "the worker stopped during each of 2 attempts" and job.content is None
    reasons = list(PdfJobEvent.objects.filter(pgh_obj_id=job.pk).values_list("pgh_context__reason", flat=True))
    assert reasons[0] == "PDF document requested" and reasons[-1] == "PDF document started"
