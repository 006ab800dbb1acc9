"""The lifecycle of a background job row (DESIGN §2 "jobs beside crf", §5; STYLE habit 7): the
part endpoint runs and exports each wrote for themselves, factored for the jobs that came after
them (issue 26's PDF casebooks, `datamanagement.pdf_jobs`).

A job is a row with a status (queued → running → succeeded | failed), who asked and when, its
attempts, start and finish, duration and error. It is requested in one transaction with its
outbox row (`crf.outbox.enqueue`); the worker then

1. `claim`s it: running, attempt + 1, a snapshot time kept across retries; a job a worker died
   in `MAX_ATTEMPTS` times is failed instead; a finished job is left alone (at most once);
2. reports `progress` in short transactions of its own, guarded by the attempt;
3. writes its result and "succeeded" in ONE transaction of its own, after `still_current` said
   the attempt was not superseded; or `finish_failed` records why it failed.

While `work` runs, a thread of the worker process writes the job's `heartbeat_at` every
`JOB_HEARTBEAT_SECONDS` (`beating`; not audited, like the progress ticks). A worker killed with
SIGKILL stops beating with it. Its task message stays unacknowledged in Redis until the broker's
visibility timeout (hours, longer than any job), so the jobs do not wait for it:

- `recover_stuck` (a beat task every `JOB_RECOVERY_INTERVAL_SECONDS`) puts a "running" job whose
  heartbeat is older than `JOB_HEARTBEAT_TIMEOUT_SECONDS` back to "queued" with a NEW outbox row
  (same transaction), so a live worker runs it again from the same snapshot; a job whose worker
  died `MAX_ATTEMPTS` times is failed instead. Recovery never shortens `visibility_timeout`.
- `claim` leaves alone a "running" job with a fresh heartbeat: another live worker has it, and a
  second delivery (a relay republishing, the old message restored late) must not supersede it.
  A late delivery of a finished job does nothing (at most once).

`fail_stuck` (a beat task) fails the jobs still "running" after the Celery time limit: their
worker is gone. Every state change is audited (the model is tracked by pghistory) with the
reason `<noun> started`, `<noun> failed`, `<noun> requeued: …`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crf.audit import audit_context
from study.version import code_version

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class JobTrigger(models.TextChoices):
    PAGE = "page", _("Page")
    API = "api", _("API")
    COMMAND = "command", _("Management command")


class BackgroundJob(models.Model):
    """The columns every job row carries. Subclasses add what they compute over and hold."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"))
    trigger = models.CharField(_("requested from"), max_length=10, choices=JobTrigger.choices)
    snapshot_at = models.DateTimeField(
        _("snapshot time"), null=True, blank=True, help_text=_("Empty: the moment the job starts.")
    )
    code_version = models.CharField(_("code version"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0, validators=[MaxValueValidator(100)])
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def duration_seconds(self) -> float | None:
        return None if self.duration_ms is None else self.duration_ms / 1000


#: BackgroundJob, or an older job model with the same columns (endpoints.EndpointRun, exports.Export)
J = TypeVar("J", bound=models.Model)

#: the fields a job's update history leaves out: ticks, not state changes (DESIGN §4 audit)
UNAUDITED_TICKS = ("progress", "heartbeat_at")


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=float(settings.JOB_HEARTBEAT_TIMEOUT_SECONDS))


def has_fresh_heartbeat(job: Any, now: datetime) -> bool:
    """A live worker is on it: "running" with a heartbeat newer than the timeout."""
    beat = getattr(job, "heartbeat_at", None)
    return job.status == JobStatus.RUNNING and beat is not None and beat > now - heartbeat_timeout()


def claim(model: type[J], pk: int, *, noun: str, now: datetime | None = None) -> tuple[J, int] | None:
    """Start (or restart after a dead worker) the job; None when there is nothing to do."""
    now = now or timezone.now()
    with transaction.atomic():
        job = model._default_manager.select_for_update().get(pk=pk)
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return None
        if has_fresh_heartbeat(job, now):
            logger.info("%s %s runs on a live worker (heartbeat %s); delivery ignored", noun, pk, job.heartbeat_at)
            return None
        with audit_context(user=None, reason=f"{noun} started"):
            if job.attempts >= MAX_ATTEMPTS:
                job.status = JobStatus.FAILED
                job.error = f"the worker stopped during each of {job.attempts} attempts"
                job.finished_at = now
                job.save(update_fields=["status", "error", "finished_at"])
                return None
            job.attempts += 1
            job.status = JobStatus.RUNNING
            job.progress = 0
            job.started_at = now
            job.snapshot_at = job.snapshot_at or now  # a retry keeps the first attempt's snapshot
            job.code_version = code_version()
            job.error = ""
            job.heartbeat_at = now
            job.save(
                update_fields=[
                    *("attempts", "status", "progress", "started_at", "snapshot_at", "code_version", "error"),
                    "heartbeat_at",
                ]
            )
        return job, job.attempts


def progress(model: type[models.Model], pk: int, attempt: int, value: int) -> None:
    """Its own short transaction (autocommit): the page and the API see it while the job runs."""
    model._default_manager.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING).update(
        progress=max(0, min(100, value)), heartbeat_at=timezone.now()
    )


def beat(model: type[models.Model], pk: int, attempt: int) -> int:
    """One heartbeat of the attempt (autocommit); 0 when the attempt is no longer the running one."""
    return model._default_manager.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    )


@contextlib.contextmanager
def beating(model: type[models.Model], pk: int, attempt: int) -> Iterator[None]:
    """While the block runs, a thread writes the attempt's heartbeat every JOB_HEARTBEAT_SECONDS
    on a connection of its own. It dies with the process (SIGKILL): the heartbeat goes stale and
    `recover_stuck` requeues the job. A failed beat (database away) is logged and retried."""
    interval = float(settings.JOB_HEARTBEAT_SECONDS)
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(interval):
                try:
                    beat(model, pk, attempt)
                except Exception:  # the next beat tries again; the timeout allows several misses
                    logger.warning("heartbeat of job %s attempt %s failed", pk, attempt, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name=f"job-heartbeat-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 30)


def still_current(model: type[J], pk: int, attempt: int) -> J | None:
    """Inside the final transaction: the job locked, or None when another attempt superseded this
    one (its result is dropped)."""
    job = model._default_manager.select_for_update().get(pk=pk)
    if job.attempts != attempt or job.status != JobStatus.RUNNING:
        return None
    return job


def mark_succeeded(job: Any, *, noun: str, started: float, update_fields: list[str]) -> None:
    """Inside the final transaction, after the result was set on `job`: succeeded, audited."""
    job.status = JobStatus.SUCCEEDED
    job.progress = 100
    job.finished_at = timezone.now()
    job.duration_ms = int((time.monotonic() - started) * 1000)
    with audit_context(user=None, reason=f"{noun} finished"):
        job.save(update_fields=[*update_fields, "status", "progress", "finished_at", "duration_ms"])


def finish_failed(model: type[models.Model], pk: int, attempt: int, error: str, *, noun: str, started: float) -> None:
    with transaction.atomic(), audit_context(user=None, reason=f"{noun} failed"):
        model._default_manager.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            error=error[:2000],
            finished_at=timezone.now(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )


def fail_stuck(model: type[models.Model], *, noun: str, now: datetime | None = None) -> list[int]:
    """Fail the jobs still "running" past the task time limit (their worker is gone)."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT))
    with transaction.atomic(), audit_context(user=None, reason=f"{noun} stopped: time limit passed"):
        stuck = list(
            model._default_manager.select_for_update()
            .filter(status=JobStatus.RUNNING, started_at__lt=limit)
            .values_list("pk", flat=True)
        )
        model._default_manager.filter(pk__in=stuck).update(
            status=JobStatus.FAILED,
            error=f"still running after the time limit of {settings.CELERY_TASK_TIME_LIMIT} s: the worker stopped",
            finished_at=now,
        )
    return stuck


def recover_stuck(
    model: type[models.Model], *, noun: str, task_name: str, id_kwarg: str, now: datetime | None = None
) -> list[int]:
    """Requeue the "running" jobs whose heartbeat stopped (their worker died), each with a new
    outbox row in this transaction; fail those whose worker died `MAX_ATTEMPTS` times. A job
    without a heartbeat yet counts from its start. Jobs past the Celery time limit are left to
    `fail_stuck`. Returns the requeued ids."""
    from crf.outbox import enqueue

    now = now or timezone.now()
    stale = now - heartbeat_timeout()
    limit = now - timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT))
    requeued: list[int] = []
    with transaction.atomic():
        rows = list(
            model._default_manager.select_for_update(skip_locked=True)
            .filter(status=JobStatus.RUNNING, started_at__gte=limit)
            .filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale))
            .order_by("pk")
        )
        for job in rows:
            if job.attempts >= MAX_ATTEMPTS:
                with audit_context(user=None, reason=f"{noun} failed: no heartbeat"):
                    job.status = JobStatus.FAILED
                    job.error = f"the worker stopped during each of {job.attempts} attempts"
                    job.finished_at = now
                    job.save(update_fields=["status", "error", "finished_at"])
                continue
            with audit_context(user=None, reason=f"{noun} requeued: no heartbeat since the worker stopped"):
                job.status = JobStatus.QUEUED
                job.error = f"attempt {job.attempts}: no heartbeat since {job.heartbeat_at or job.started_at}; requeued"
                job.save(update_fields=["status", "error"])
                enqueue(task_name=task_name, **{id_kwarg: job.pk})
            logger.warning("%s %s: no heartbeat since %s; requeued", noun, job.pk, job.heartbeat_at)
            requeued.append(job.pk)
    return requeued


def run(model: type[J], pk: int, *, noun: str, work: Any, save_result: Any) -> J:
    """The whole worker side: claim, `work(job, report)` (no writes but progress), then
    `save_result(job, result)` in the final transaction (returns the fields it set), or the
    failure recorded. Idempotent: a finished job is returned as it is."""
    started = time.monotonic()
    claimed = claim(model, pk, noun=noun)
    if claimed is None:
        return model._default_manager.get(pk=pk)
    job, attempt = claimed
    try:
        with beating(model, pk, attempt):
            result = work(job, lambda value: progress(model, pk, attempt, value))
    except Exception as exc:  # recorded on the job: the page and the API show why it failed
        logger.exception("%s %s failed", noun, pk)
        finish_failed(model, pk, attempt, f"{type(exc).__name__}: {exc}", noun=noun, started=started)
        return model._default_manager.get(pk=pk)
    with transaction.atomic():
        current = still_current(model, pk, attempt)
        if current is None:
            return model._default_manager.get(pk=pk)
        fields = save_result(current, result)
        mark_succeeded(current, noun=noun, started=started, update_fields=list(fields))
    return current
