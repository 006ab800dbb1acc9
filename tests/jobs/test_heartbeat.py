"""The jobs' heartbeat and stuck-job recovery (jobs.services; issue 32 §1 "the Celery worker killed
… recovered through the jobs' heartbeat and stuck-job recovery", DESIGN §2 outbox, §5 jobs).
In-process, on real PostgreSQL; the worker-killing proof is tests/faults/test_worker_kill.py."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from crf.models import OutboxMessage
from endpoints import services
from endpoints.models import EndpointRun, RunStatus
from exports import services as export_services
from exports.models import Export, ExportStatus
from jobs import services as jobs
from tests.endpoints.conftest import CUTOFF, make_world, populate

pytestmark = [pytest.mark.req("ISSUE-32"), pytest.mark.req("DESIGN-2"), pytest.mark.req("DESIGN-5")]


@pytest.fixture
def world(db):
    return make_world("beat")


def running(run: EndpointRun, *, attempts: int = 1, beat_ago: float | None, started_ago: float = 60) -> None:
    now = timezone.now()
    EndpointRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        attempts=attempts,
        started_at=now - timedelta(seconds=started_ago),
        snapshot_at=now - timedelta(seconds=started_ago),
        heartbeat_at=None if beat_ago is None else now - timedelta(seconds=beat_ago),
    )


def outbox_rows(run: EndpointRun) -> int:
    return OutboxMessage.objects.filter(task_name=services.TASK_NAME, kwargs={"run_id": run.pk}).count()


def test_a_second_delivery_leaves_a_job_with_a_fresh_heartbeat_alone(world, settings):
    """Before the heartbeat, any second delivery of a running job superseded it (attempt + 1),
    and at MAX_ATTEMPTS failed it while its live worker was still computing."""
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 90
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    running(run, attempts=2, beat_ago=5)
    assert services.compute_run(run_id=run.pk).status == RunStatus.RUNNING
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (RunStatus.RUNNING, 2, "")
    # the heartbeat stopped 91 s ago: the worker is gone, this delivery takes over (and fails at
    # the attempt limit, as before)
    running(run, attempts=2, beat_ago=91)
    failed = services.compute_run(run_id=run.pk)
    assert (failed.status, failed.error) == (RunStatus.FAILED, "the worker stopped during each of 2 attempts")


def test_recovery_requeues_a_job_whose_heartbeat_stopped_and_it_then_runs_once(world, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 30
    populate(world)
    dead = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    alive = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    never_beat = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    twice = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    too_old = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    running(dead, beat_ago=31)
    running(alive, beat_ago=10)
    running(never_beat, beat_ago=None, started_ago=45)  # a job from before the heartbeat: its start counts
    running(twice, attempts=2, beat_ago=40)
    running(too_old, beat_ago=40, started_ago=settings.CELERY_TASK_TIME_LIMIT + 5)  # fail_stuck's

    assert jobs.recover_stuck(services.RUN_JOB) == [dead.pk, never_beat.pk]
    states = {r.pk: (r.status, r.attempts) for r in EndpointRun.objects.filter(study=world.study)}
    assert states == {
        dead.pk: (RunStatus.QUEUED, 1),
        alive.pk: (RunStatus.RUNNING, 1),
        never_beat.pk: (RunStatus.QUEUED, 1),
        twice.pk: (RunStatus.FAILED, 2),
        too_old.pk: (RunStatus.RUNNING, 1),
    }
    assert [outbox_rows(r) for r in (dead, alive, never_beat, twice, too_old)] == [2, 1, 2, 1, 1]
    events = apps.get_model("endpoints", "EndpointRunEvent").objects.filter(pgh_obj_id=dead.pk)
    reasons = list(events.order_by("pgh_id").values_list("pgh_context", flat=True))
    assert reasons[-1]["reason"] == "endpoint run requeued: no heartbeat since the worker stopped"
    assert jobs.recover_stuck(services.RUN_JOB) == []  # nothing twice

    done = services.compute_run(run_id=dead.pk)  # the new outbox row's delivery
    assert (done.status, done.attempts, done.progress, done.error) == (RunStatus.SUCCEEDED, 2, 100, "")
    # the killed attempt's message, restored by Redis after the visibility timeout: nothing
    assert services.compute_run(run_id=dead.pk).finished_at == done.finished_at
    assert jobs.fail_stuck(services.RUN_JOB) == [too_old.pk]


def test_the_worker_beats_while_it_works_and_the_beats_are_not_audited(transactional_db, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    world = make_world(f"beating-{uuid.uuid4().hex[:6]}")
    export = export_services.request_export(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    claimed = jobs.claim(export_services.EXPORT_JOB, export.pk, now=timezone.now() - timedelta(seconds=60))
    assert claimed is not None
    _job, attempt = claimed
    first = Export.objects.get(pk=export.pk).heartbeat_at
    events = apps.get_model("exports", "ExportEvent").objects.filter(pgh_obj_id=export.pk).count()
    with jobs.beating(export_services.EXPORT_JOB, export.pk, attempt):
        time.sleep(0.5)
    beats = Export.objects.get(pk=export.pk).heartbeat_at
    assert beats > first + timedelta(seconds=59)
    assert apps.get_model("exports", "ExportEvent").objects.filter(pgh_obj_id=export.pk).count() == events
    assert not [t for t in threading.enumerate() if t.name == f"job-heartbeat-{export.pk}"]
    time.sleep(0.2)
    assert Export.objects.get(pk=export.pk).heartbeat_at == beats  # stopped with the block
    # another attempt's thread writes nothing
    with jobs.beating(export_services.EXPORT_JOB, export.pk, attempt + 1):
        time.sleep(0.2)
    assert Export.objects.get(pk=export.pk).heartbeat_at == beats
    assert Export.objects.get(pk=export.pk).status == ExportStatus.RUNNING
