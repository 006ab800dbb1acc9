"""A demo subject's casebook (issue 26 item 2, "done when": a PDF casebook of a demo subject that
reads back with its values, an audit reason, a signature manifestation and Chinese text).

A demo subject's vital signs are corrected with a reason and the investigator signs the
casebook; the data manager builds the subject's casebook in Chinese (every form type the demo
subject has, through the display layer, with history, queries, SDV marks and signatures) and it
reads back: subject ID and "page x of y" on every page, the corrected value, the audit row with
its reason, the manifestation, no identity data. Prints its time and size (slow tier: the demo
study loads in about a minute on a quiet machine, 17-19 minutes on this shared one)."""

from __future__ import annotations

import hashlib
import io
import re
import time

import pytest
from django.test import RequestFactory
from pypdf import PdfReader

from datamanagement import pdf_jobs, signatures, tasks
from datamanagement.models import PdfJob, PdfKind
from labs.models import VitalSigns
from labs.services import record_vital_signs
from study.models import User
from subjects.models import IdentityRecord
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.req("ISSUE-26"), pytest.mark.slow, pytest.mark.timeout(3600)]


def test_a_demo_casebook_reads_back(demo_study, db):
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
    job = pdf_jobs.request_pdf(
        actor=manager, study=site.study, kind=PdfKind.CASEBOOK, subject=subject, language="zh-hans"
    )
    assert tasks.build_pdf(job_id=job.pk) == "succeeded", PdfJob.objects.get(pk=job.pk).error
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    content = bytes(job.content)
    assert job.sha256 == hashlib.sha256(content).hexdigest()
    reader = PdfReader(io.BytesIO(content))
    pages = [page.extract_text() for page in reader.pages]
    label = subject.subject_id or subject.screening_number
    assert len(pages) == job.pages
    for number, page in enumerate(pages, start=1):
        assert f"受试者 {label}" in page and f"第 {number} 页，共 {len(pages)} 页" in page, number
    text = " ".join(" ".join(pages).split())
    identity = [value for row in IdentityRecord.objects.values_list("full_name", "hospital_number") for value in row]
    assert not [value for value in identity if value and value in text]
    assert "收缩压（mmHg） 131 mmHg" in text
    assert re.search(r"收缩压（mmHg） \d+ mmHg → 131 mmHg corrected from the source document", text)
    assert re.search(r"Dr Wang Jun 王军 · \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai, UTC\+08:00\) · 已审阅并批准", text)
    print(f"\ndemo casebook {label}: {job.pages} pages, {job.size_bytes / 1024:.0f} KiB, {seconds:.0f} s")
