"""Celery tasks of the data-management app. Thin (STYLE habit 7): ids in, call a service.

`build_pdf` is published by the outbox relay (with `outbox_id`) but is not an `outbox_task`: a
document shows progress while it is built; the job row is its own once-only guard
(jobs.services.run), as for endpoint runs and exports."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crf.outbox import run_once
from datamanagement import pdf_jobs


@shared_task(
    name="datamanagement.tasks.send_notice_mail",
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=None,
)
def send_notice_mail(self: Any, *, outbox_id: int, mail_id: int, not_before: str | None = None) -> Any:
    """Send one notification e-mail, at most once per outbox message. A retry message carries
    `not_before` (the next retry shown on the list): the task waits for it with a countdown."""
    due = parse_datetime(not_before) if not_before else None
    if due is not None and (wait := (due - timezone.now()).total_seconds()) > 0:
        raise self.retry(countdown=wait, kwargs=self.request.kwargs, max_retries=None)
    from datamanagement.notifications import send_notice_mail as body

    return run_once(outbox_id=outbox_id, task_name=self.name, body=body, kwargs={"mail_id": mail_id})


send_notice_mail.runs_once_per_message = True


@shared_task(name="datamanagement.tasks.daily_digest")
def daily_digest(now: str | None = None) -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE): build the digest of each person whose day has reached the
    digest hour and who has none yet today. `now` (ISO 8601) fixes the clock (tests, catch-up)."""
    from datamanagement.notifications import build_digests

    moment = parse_datetime(now) if now else None
    return build_digests(now=moment or timezone.now())


@shared_task(name="datamanagement.tasks.build_pdf")
def build_pdf(*, job_id: int, outbox_id: int | None = None, **_: Any) -> str:
    return str(pdf_jobs.compute(job_id=job_id).status)
