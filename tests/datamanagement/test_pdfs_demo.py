"""The demo study's casebooks (issue 26 item 2, "done when": a PDF casebook of a demo subject
that reads back with its values, an audit reason, a signature manifestation and Chinese text).

A demo subject's vital signs are corrected with a reason and the investigator signs the
casebook; then the data manager builds the study archive in Chinese — every demo subject's
casebook (every form type through the display layer, with its history, queries, SDV marks and
signatures) — and each PDF reads back: the subject ID on every page, no identity data, the
manifest's hashes and page counts those of the files. Prints the archive's time and size (slow
tier: the demo study loads in about a minute on a quiet machine)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
import zipfile

import pytest
from django.test import RequestFactory
from pypdf import PdfReader

from datamanagement import pdf_jobs, signatures, tasks
from datamanagement.models import PdfJob, PdfKind
from labs.models import VitalSigns
from labs.services import record_vital_signs
from study.models import User
from subjects.models import IdentityRecord, Subject
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.req("ISSUE-26"), pytest.mark.slow, pytest.mark.timeout(2400)]


def test_the_demo_archive_reads_back(demo_study, db):
    site, coordinator, _written = demo_study
    manager = User.objects.get(username="datamanager")
    investigator = User.objects.get(username="investigator")
    investigator.set_password(PASSWORD)  # the demo accounts' password is not the tests' one
    investigator.save(update_fields=["password"])
    form = VitalSigns.objects.filter(subject__site=site, systolic_bp__isnull=False).order_by("pk").first()
    subject = form.subject
    form.systolic_bp = 131
    record_vital_signs(
        user=coordinator, vital_signs=form, expected_version=form.version, reason="corrected from the source document"
    )
    request = RequestFactory().post("/")
    request.session = {}
    signatures.sign(
        request=request,
        user=investigator,
        subject=subject,
        scope="casebook",
        meaning="reviewed_approved",
        username=investigator.username,
        password=PASSWORD,
    )

    started = time.perf_counter()
    job = pdf_jobs.request_pdf(actor=manager, study=site.study, kind=PdfKind.ARCHIVE, language="zh-hans")
    assert tasks.build_pdf(job_id=job.pk) == "succeeded", PdfJob.objects.get(pk=job.pk).error
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    with zipfile.ZipFile(io.BytesIO(bytes(job.content))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = list(csv.DictReader(io.StringIO(files.pop("manifest.csv").decode())))
    subjects = Subject.objects.filter(site=site).count()
    assert len(manifest) == len(files) == job.documents == subjects >= 20
    identity = [value for row in IdentityRecord.objects.values_list("full_name", "hospital_number") for value in row]
    texts = {}
    for row in manifest:
        content = files[row["file"]]
        assert row["sha256"] == hashlib.sha256(content).hexdigest() and int(row["bytes"]) == len(content)
        reader = PdfReader(io.BytesIO(content))
        pages = [page.extract_text() for page in reader.pages]
        assert int(row["pages"]) == len(pages)
        assert all(f"受试者 {row['subject']}" in page for page in pages), row["file"]
        text = " ".join(" ".join(pages).split())
        assert not [value for value in identity if value and value in text], row["file"]
        texts[row["subject"]] = text
    text = texts[subject.subject_id or subject.screening_number]
    assert "收缩压（mmHg） 131 mmHg" in text
    assert re.search(r"收缩压（mmHg） \d+ mmHg → 131 mmHg corrected from the source document", text)
    assert re.search(r"Dr Wang Jun 王军 · \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai, UTC\+08:00\) · 已审阅并批准", text)
    print(
        f"\ndemo archive: {job.documents} casebooks, {job.pages} pages, {job.size_bytes / 1024 / 1024:.1f} MiB, "
        f"{seconds:.0f} s ({seconds / job.documents:.1f} s a casebook)"
    )
    for row in manifest:
        print(f"  {row['file']}: {row['pages']} pages, {int(row['bytes']) / 1024:.0f} KiB")
