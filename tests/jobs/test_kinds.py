"""The registry of job kinds and the one stuck-job sweep over all of them (jobs.kinds,
jobs.services; issue 23 "one beat task iterating the registered job kinds", DESIGN §3 jobs/)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crf.models import OutboxMessage
from datamanagement import pdf_jobs
from datamanagement.models import PdfJob
from endpoints import services as run_services
from endpoints.models import EndpointRun
from exports import services as export_services
from exports.models import Export
from jobs import kinds, services
from jobs.kinds import JobKind
from tests.endpoints.conftest import CUTOFF, make_world

pytestmark = [pytest.mark.req("ISSUE-23"), pytest.mark.req("ISSUE-32"), pytest.mark.req("DESIGN-3")]


def test_each_app_declares_its_job_kind_once():
    assert [(k.model, k.noun, k.task_name, k.id_kwarg) for k in kinds.kinds()] == [
        (PdfJob, "PDF document", "datamanagement.tasks.build_pdf", "job_id"),
        (EndpointRun, "endpoint run", "endpoints.tasks.compute_endpoint_run", "run_id"),
        (Export, "export", "exports.tasks.build_export", "export_id"),
    ]
    assert kinds.check_every_job_model_declared() == []
    assert kinds.register(run_services.RUN_JOB) is run_services.RUN_JOB  # the same declaration again
    with pytest.raises(ValueError, match="already declared"):
        kinds.register(JobKind(model=EndpointRun, noun="run", task_name="x.y", id_kwarg="run_id"))


def test_a_job_model_without_a_declared_kind_fails_the_checks_and_the_sweeps(monkeypatch):
    # an app that forgot its declaration: the registry as it would be without it
    monkeypatch.delitem(kinds._KINDS, Export)
    errors = kinds.check_every_job_model_declared()
    assert [(e.id, e.obj) for e in errors] == [("jobs.E001", Export)]
    with pytest.raises(LookupError, match="Export"):
        services.recover_stuck_jobs()


@pytest.fixture
def stale(db, settings):
    """A run, an export and a PDF document left "running" by a worker that stopped beating 40 s
    ago, and one of each past the task time limit."""
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 30
    world = make_world("sweep")
    now = timezone.now()
    made = {}
    requests = {
        "run": lambda: run_services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF),
        "export": lambda: export_services.request_export(
            actor=world.statistician, study=world.study, cutoff_date=CUTOFF
        ),
        "pdf": lambda: pdf_jobs.request_pdf(actor=world.admin, study=world.study, kind="blank_crf", language="en"),
    }
    for name, request in requests.items():
        for age, started in (("dead", 60), ("old", settings.CELERY_TASK_TIME_LIMIT + 5)):
            job = request()
            type(job).objects.filter(pk=job.pk).update(
                status="running",
                attempts=1,
                started_at=now - timedelta(seconds=started),
                heartbeat_at=now - timedelta(seconds=40),
            )
            made[f"{age} {name}"] = job.pk
    return made


def test_one_sweep_requeues_every_kind_and_one_fails_them_past_the_time_limit(stale):
    requeued = services.recover_stuck_jobs()
    assert requeued == {
        "datamanagement.PdfJob": [stale["dead pdf"]],
        "endpoints.EndpointRun": [stale["dead run"]],
        "exports.Export": [stale["dead export"]],
    }
    # each requeued job has its second outbox row, for its own task
    for task_name, kwargs in (
        ("endpoints.tasks.compute_endpoint_run", {"run_id": stale["dead run"]}),
        ("exports.tasks.build_export", {"export_id": stale["dead export"]}),
        ("datamanagement.tasks.build_pdf", {"job_id": stale["dead pdf"]}),
    ):
        assert OutboxMessage.objects.filter(task_name=task_name, kwargs=kwargs).count() == 2
    assert services.fail_stuck_jobs() == {
        "datamanagement.PdfJob": [stale["old pdf"]],
        "endpoints.EndpointRun": [stale["old run"]],
        "exports.Export": [stale["old export"]],
    }
    assert services.recover_stuck_jobs() == {
        "datamanagement.PdfJob": [],
        "endpoints.EndpointRun": [],
        "exports.Export": [],
    }
    statuses = [
        EndpointRun.objects.get(pk=stale["old run"]).status,
        Export.objects.get(pk=stale["old export"]).status,
        PdfJob.objects.get(pk=stale["old pdf"]).status,
        EndpointRun.objects.get(pk=stale["dead run"]).status,
    ]
    assert statuses == ["failed", "failed", "failed", "queued"]
