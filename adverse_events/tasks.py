"""Celery tasks of the safety app. Thin (STYLE habit 7): ids in, the service does the work."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from adverse_events.services import dlt as dlt_services
from adverse_events.services.alerts import deliver_alert as body
from crf.outbox import run_once
from study.models import Study
from subjects.models import Subject


@shared_task(
    name="adverse_events.tasks.deliver_alert",
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=None,
)
def deliver_alert(self: Any, *, outbox_id: int, alert_id: int, not_before: str | None = None) -> Any:
    """Deliver one safety alert, at most once per outbox message (crf.outbox.run_once). A retry
    message carries `not_before` (the earliest next retry): the task waits for it with a Celery
    countdown, so nothing is attempted before the time shown on the alert page."""
    if not_before:
        due = parse_datetime(not_before)
        wait = (due - timezone.now()).total_seconds() if due else 0
        if wait > 0:
            raise self.retry(countdown=wait, kwargs=self.request.kwargs, max_retries=None)

    return run_once(outbox_id=outbox_id, task_name=self.name, body=body, kwargs={"alert_id": alert_id})


deliver_alert.runs_once_per_message = True


@shared_task(name="adverse_events.tasks.refresh_dlt_candidates")
def refresh_dlt_candidates() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE): re-run the DLT rules for the subjects whose candidates can
    still appear with time alone (an AE not back to grade ≤ 1 after 7 days), so the candidate
    list and the safety dashboard show them without anyone opening the DLT monitor (§3.1)."""
    done = {}
    for study in Study.objects.filter(protocol_settings__isnull=False).distinct().order_by("pk"):
        done[study.code] = dlt_services.refresh_candidates(Subject.objects.all(), study=study)
    return done
