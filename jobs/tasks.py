"""The stuck-job sweeps (jobs.services), one beat task each over every declared job kind.
Thin (STYLE habit 7)."""

from __future__ import annotations

from celery import shared_task

from jobs import services


@shared_task(name="jobs.tasks.recover_stuck_jobs")
def recover_stuck_jobs() -> dict[str, list[int]]:
    """Every JOB_RECOVERY_INTERVAL_SECONDS (CELERY_BEAT_SCHEDULE): requeue the jobs of a dead worker."""
    return services.recover_stuck_jobs()


@shared_task(name="jobs.tasks.fail_stuck_jobs")
def fail_stuck_jobs() -> dict[str, list[int]]:
    """Every 15 minutes (CELERY_BEAT_SCHEDULE): fail the jobs still running past the time limit."""
    return services.fail_stuck_jobs()
