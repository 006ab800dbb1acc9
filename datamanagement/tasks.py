"""Celery tasks of the data-management app. Thin (STYLE habit 7): ids in, call a service.

`build_pdf` is published by the outbox relay (with `outbox_id`) but is not an `outbox_task`: a
document shows progress while it is built; the job row is its own once-only guard
(crf.jobs.run), as for endpoint runs and exports."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from datamanagement import pdf_jobs


@shared_task(name="datamanagement.tasks.build_pdf")
def build_pdf(*, job_id: int, outbox_id: int | None = None, **_: Any) -> str:
    return str(pdf_jobs.compute(job_id=job_id).status)


@shared_task(name="datamanagement.tasks.fail_stuck_pdf_jobs")
def fail_stuck_pdf_jobs() -> list[int]:
    return pdf_jobs.fail_stuck()
