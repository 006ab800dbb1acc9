"""The casebooks of the demo study (issue 26 item 2): every demo subject's casebook builds — every
form type through the display layer, its history, queries, SDV marks and signatures — in
Chinese, and reads back with its subject ID on every page, a known value and no identity data.
Prints the time and size of each (slow tier: the demo study loads in about a minute)."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfReader

from datamanagement import pdf_jobs, tasks
from datamanagement.models import PdfJob, PdfKind
from study.models import User
from subjects.models import IdentityRecord, Subject

pytestmark = [pytest.mark.req("ISSUE-26"), pytest.mark.slow]


def test_every_demo_casebook_builds_and_reads_back(demo_study, db):
    site = demo_study[0]
    manager = User.objects.get(username="datamanager")
    names = list(IdentityRecord.objects.values_list("full_name", "hospital_number"))
    assert names
    sizes = []
    for subject in Subject.objects.filter(site=site).order_by("subject_id", "screening_number"):
        started = time.perf_counter()
        job = pdf_jobs.request_pdf(
            actor=manager, study=site.study, kind=PdfKind.CASEBOOK, subject=subject, language="zh-hans"
        )
        assert tasks.build_pdf(job_id=job.pk) == "succeeded", PdfJob.objects.get(pk=job.pk).error
        job.refresh_from_db()
        reader = PdfReader(io.BytesIO(bytes(job.content)))
        pages = [page.extract_text() for page in reader.pages]
        label = subject.subject_id or subject.screening_number
        assert len(pages) == job.pages and all(f"受试者 {label}" in page for page in pages)
        text = " ".join(" ".join(pages).split())
        for full_name, hospital_number in names:
            assert full_name not in text and hospital_number not in text
        sizes.append((label, job.pages, job.size_bytes, time.perf_counter() - started))
    for label, count, size, seconds in sizes:
        print(f"{label}: {count} pages, {size / 1024:.0f} KiB, {seconds:.1f} s")
    assert len(sizes) == Subject.objects.filter(site=site).count() >= 20
