"""The lifecycle of a background job (DESIGN §2 outbox, §3 jobs/, §5; STYLE habits 3 and 7),
shared by endpoint runs, exports and PDF documents: request, claim, progress, heartbeat, one
final transaction, stuck-job recovery. Each function takes the job's declared kind
(`jobs.kinds.JobKind`).

A job is requested (`request`) in one transaction with its outbox row (`crf.outbox.enqueue`); the
worker then (`run` does all of it)

1. `claim`s it: running, attempt + 1, a snapshot time kept across retries; a job a worker died
   in `MAX_ATTEMPTS` times is failed instead; a finished job is left alone (at most once);
2. reports `progress` in short transactions of its own, guarded by the attempt;
3. writes its result and "succeeded" in ONE transaction of its own, after `still_current` said
   the attempt was not superseded; or `finish_failed` records why it failed. A worker killed
   before that transaction commits leaves no result at all.

While the job works and stores its result, a thread of the worker process writes the job's
`heartbeat_at` every `JOB_HEARTBEAT_SECONDS` (`beating`; not audited, like the progress ticks). A
worker killed with SIGKILL stops beating with it. Its task message stays unacknowledged in Redis
until the broker's visibility timeout (hours, longer than any job), so the jobs do not wait for it:

- `recover_stuck` (the beat task `jobs.tasks.recover_stuck_jobs`, every
  `JOB_RECOVERY_INTERVAL_SECONDS`, over every declared kind) puts a "running" job whose heartbeat
  is older than `JOB_HEARTBEAT_TIMEOUT_SECONDS` back to "queued" with a NEW outbox row (same
  transaction), so a live worker runs it again from the same snapshot; a job whose worker died
  `MAX_ATTEMPTS` times is failed instead. Recovery never shortens `visibility_timeout`.
- `claim` leaves alone a "running" job with a fresh heartbeat: another live worker has it, and a
  second delivery (a relay republishing, the old message restored late) must not supersede it.
  A late delivery of a finished job does nothing (at most once).

`fail_stuck` (the beat task `jobs.tasks.fail_stuck_jobs`) fails the jobs still "running" after
the Celery time limit: their worker is gone. Every state change is audited (the model is tracked
by pghistory, `jobs.models.track_job`) with the reason `<noun> requested`, `<noun> started`,
`<noun> finished`, `<noun> failed`, `<noun> requeued: …`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crf.outbox import enqueue
from jobs.kinds import JobKind, kinds
from jobs.models import JobStatus
from study.audit_context import audit_context
from study.version import code_version

if TYPE_CHECKING:
    from study.models import User

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2

#: what a job computes: `work(job, report)` with `report(percent)`, no write but progress
Work = Callable[[Any, Callable[[int], None]], Any]
#: what it stores: `save_result(job, result)` sets the result on the locked job, writes its other
#: rows, and returns the job's fields it set (saved with "succeeded")
SaveResult = Callable[[Any, Any], Collection[str]]


def data_cut_errors(*, cutoff_date: date, snapshot_at: datetime | None, now: datetime) -> dict[str, str]:
    """The field errors of a requested data cut (DESIGN §5): a clinical cut-off date and a
    snapshot time (with its zone), neither in the future; the past is rebuilt from the audit trail."""
    errors = {}
    if snapshot_at is not None and timezone.is_naive(snapshot_at):
        errors["snapshot_at"] = _("Give the snapshot time with its time zone.")
    elif snapshot_at is not None and snapshot_at > now:
        errors["snapshot_at"] = _("The snapshot time cannot be in the future.")
    if cutoff_date > now.date():
        errors["cutoff_date"] = _("The clinical cut-off date cannot be in the future.")
    return errors


@transaction.atomic
def request(kind: JobKind, job: Any, *, actor: User | None, exclude: Collection[str] = ()) -> Any:
    """Save a new job (validated, audited "<noun> requested") and its outbox row in one
    transaction (DESIGN §2). The caller checked the permission and the request's own fields."""
    job.full_clean(exclude=list(exclude) or None)
    with audit_context(user=actor, reason=f"{kind.noun} requested"):
        job.save()
        enqueue(task_name=kind.task_name, **{kind.id_kwarg: job.pk})
    return job


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=float(settings.JOB_HEARTBEAT_TIMEOUT_SECONDS))


def has_fresh_heartbeat(job: Any, now: datetime) -> bool:
    """A live worker is on it: "running" with a heartbeat newer than the timeout."""
    beat = getattr(job, "heartbeat_at", None)
    return job.status == JobStatus.RUNNING and beat is not None and beat > now - heartbeat_timeout()


def claim(kind: JobKind, pk: int, *, now: datetime | None = None) -> tuple[Any, int] | None:
    """Start (or restart after a dead worker) the job; None when there is nothing to do."""
    now = now or timezone.now()
    with transaction.atomic():
        job = kind.model._default_manager.select_for_update().get(pk=pk)
        if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return None
        if has_fresh_heartbeat(job, now):
            logger.info("%s %s runs on a live worker (heartbeat %s); delivery ignored", kind, pk, job.heartbeat_at)
            return None
        with audit_context(user=None, reason=f"{kind.noun} started"):
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


def progress(kind: JobKind, pk: int, attempt: int, value: int) -> None:
    """Its own short transaction (autocommit): the page and the API see it while the job runs."""
    kind.model._default_manager.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING).update(
        progress=max(0, min(100, value)), heartbeat_at=timezone.now()
    )


def beat(kind: JobKind, pk: int, attempt: int) -> int:
    """One heartbeat of the attempt (autocommit); 0 when the attempt is no longer the running one."""
    return kind.model._default_manager.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    )


@contextlib.contextmanager
def beating(kind: JobKind, pk: int, attempt: int) -> Iterator[None]:
    """While the block runs, a thread writes the attempt's heartbeat every JOB_HEARTBEAT_SECONDS
    on a connection of its own. It dies with the process (SIGKILL): the heartbeat goes stale and
    `recover_stuck` requeues the job. A failed beat (database away) is logged and retried."""
    interval = float(settings.JOB_HEARTBEAT_SECONDS)
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(interval):
                try:
                    beat(kind, pk, attempt)
                except Exception:  # the next beat tries again; the timeout allows several misses
                    logger.warning("heartbeat of %s %s attempt %s failed", kind, pk, attempt, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name=f"job-heartbeat-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 30)


def still_current(kind: JobKind, pk: int, attempt: int) -> Any | None:
    """Inside the final transaction: the job locked, or None when another attempt superseded this
    one (its result is dropped)."""
    job = kind.model._default_manager.select_for_update().get(pk=pk)
    if job.attempts != attempt or job.status != JobStatus.RUNNING:
        logger.warning("%s %s attempt %s superseded; its result is dropped", kind, pk, attempt)
        return None
    return job


def mark_succeeded(kind: JobKind, job: Any, *, started: float, update_fields: Collection[str]) -> None:
    """Inside the final transaction, after the result was set on `job`: succeeded, audited."""
    job.status = JobStatus.SUCCEEDED
    job.progress = 100
    job.finished_at = timezone.now()
    job.duration_ms = int((time.monotonic() - started) * 1000)
    with audit_context(user=None, reason=f"{kind.noun} finished"):
        job.save(update_fields=[*update_fields, "status", "progress", "finished_at", "duration_ms"])


def finish_failed(kind: JobKind, pk: int, attempt: int, error: str, *, started: float) -> None:
    with transaction.atomic(), audit_context(user=None, reason=f"{kind.noun} failed"):
        kind.model._default_manager.filter(pk=pk, attempts=attempt, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            error=error[:2000],
            finished_at=timezone.now(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )


def run(kind: JobKind, pk: int, *, work: Work, save_result: SaveResult, now: datetime | None = None) -> Any:
    """The whole worker side: claim, `work(job, report)` (no writes but progress), then
    `save_result(job, result)` in the final transaction with "succeeded", or the failure
    recorded. The heartbeat beats through both (storing a large result takes a while).
    Idempotent: a finished job, or one a live worker holds, is returned as it is."""
    started = time.monotonic()
    claimed = claim(kind, pk, now=now)
    if claimed is None:
        return kind.model._default_manager.get(pk=pk)
    job, attempt = claimed
    with beating(kind, pk, attempt):
        try:
            result = work(job, lambda value: progress(kind, pk, attempt, value))
        except Exception as exc:  # recorded on the job: the page and the API show why it failed
            logger.exception("%s %s failed", kind, pk)
            finish_failed(kind, pk, attempt, f"{type(exc).__name__}: {exc}", started=started)
            return kind.model._default_manager.get(pk=pk)
        with transaction.atomic():
            current = still_current(kind, pk, attempt)
            if current is None:
                return kind.model._default_manager.get(pk=pk)
            fields = save_result(current, result)
            mark_succeeded(kind, current, started=started, update_fields=fields)
    return current


def fail_stuck(kind: JobKind, *, now: datetime | None = None) -> list[int]:
    """Fail the jobs still "running" past the task time limit (their worker is gone: Celery would
    have killed it at the limit, and their result was never written)."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT))
    manager = kind.model._default_manager
    with transaction.atomic(), audit_context(user=None, reason=f"{kind.noun} stopped: time limit passed"):
        running = manager.select_for_update().filter(status=JobStatus.RUNNING, started_at__lt=limit)
        stuck = list(running.values_list("pk", flat=True))
        manager.filter(pk__in=stuck).update(
            status=JobStatus.FAILED,
            error=f"still running after the time limit of {settings.CELERY_TASK_TIME_LIMIT} s: the worker stopped",
            finished_at=now,
        )
    return stuck


def recover_stuck(kind: JobKind, *, now: datetime | None = None) -> list[int]:
    """Requeue the "running" jobs whose heartbeat stopped (their worker died), each with a new
    outbox row in this transaction; fail those whose worker died `MAX_ATTEMPTS` times. A job
    without a heartbeat yet counts from its start. Jobs past the Celery time limit are left to
    `fail_stuck`. Returns the requeued ids."""
    now = now or timezone.now()
    stale = now - heartbeat_timeout()
    limit = now - timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT))
    requeued: list[int] = []
    with transaction.atomic():
        rows = list(
            kind.model._default_manager.select_for_update(skip_locked=True)
            .filter(status=JobStatus.RUNNING, started_at__gte=limit)
            .filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale))
            .order_by("pk")
        )
        for job in rows:
            if job.attempts >= MAX_ATTEMPTS:
                with audit_context(user=None, reason=f"{kind.noun} failed: no heartbeat"):
                    job.status = JobStatus.FAILED
                    job.error = f"the worker stopped during each of {job.attempts} attempts"
                    job.finished_at = now
                    job.save(update_fields=["status", "error", "finished_at"])
                continue
            with audit_context(user=None, reason=f"{kind.noun} requeued: no heartbeat since the worker stopped"):
                job.status = JobStatus.QUEUED
                job.error = f"attempt {job.attempts}: no heartbeat since {job.heartbeat_at or job.started_at}; requeued"
                job.save(update_fields=["status", "error"])
                enqueue(task_name=kind.task_name, **{kind.id_kwarg: job.pk})
            logger.warning("%s %s: no heartbeat since %s; requeued", kind, job.pk, job.heartbeat_at)
            requeued.append(job.pk)
    return requeued


def recover_stuck_jobs(*, now: datetime | None = None) -> dict[str, list[int]]:
    """`recover_stuck` over every declared kind: {model label: requeued ids} (the beat task)."""
    return {kind.model._meta.label: recover_stuck(kind, now=now) for kind in kinds()}


def fail_stuck_jobs(*, now: datetime | None = None) -> dict[str, list[int]]:
    """`fail_stuck` over every declared kind: {model label: failed ids} (the beat task)."""
    return {kind.model._meta.label: fail_stuck(kind, now=now) for kind in kinds()}
