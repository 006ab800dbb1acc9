"""The Celery worker killed with SIGKILL in the middle of an endpoint run, an export and a PDF
casebook, 10 times each (issue 32 §1), with real processes: a private redis-server on a free
loopback port (never the shared one), the outbox relay, `celery beat`, and two Celery workers
(prefork, one child each) on the test database.

Each kill takes the whole worker (main process and pool child, one process group): nothing
acknowledges or rejects the task, so Redis keeps the message unacknowledged until its visibility
timeout (hours; NOT shortened here). The job is recovered through its heartbeat instead
(jobs.services): the killed worker stops beating, the beat task `recover_stuck_jobs` requeues the job with
a new outbox row, the relay publishes it, and the other worker runs it again from the same
snapshot, while a replacement worker starts (as systemd would restart it).

The test lowers the heartbeat settings, for its own processes only (production: a beat every
15 s, stale after 90 s, swept every 60 s): JOB_HEARTBEAT_SECONDS=0.3,
JOB_HEARTBEAT_TIMEOUT_SECONDS=1.5, JOB_RECOVERY_INTERVAL_SECONDS=0.5; and pauses each job a
little per step (*_STEP_PAUSE_SECONDS) so that the kill lands mid-job.

Proved per job: it succeeds exactly once (attempts 2, one "finished" audit row, one set of
files), with results identical to an undisturbed run through the same worker:
- endpoint run: the same `results_sha256` (canonical JSON of every table);
- export: the same files, byte for byte (SHA-256 of every CSV/XPT/define file);
- PDF casebook: the same page count and the same extracted text, except the cover's
  "generated at" time (the moment of building, by design); the PDF bytes differ only by it and
  by the PDF's creation stamp, so the bytes are not compared.
A late delivery of each killed attempt's message (what Redis restores after the visibility
timeout) changes nothing. The undisturbed PDF job (issue 26: a real worker builds a PDF) reads
back with pypdf with its known values. The recovery time per kill is printed (min/median/max).
"""

from __future__ import annotations

import io
import os
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.db import transaction
from django.utils import timezone
from pypdf import PdfReader

from crf.models import OutboxMessage
from datamanagement import pdf_jobs
from datamanagement.models import PdfJob, PdfKind
from endpoints import services as run_services
from endpoints.models import EndpointRun
from exports import services as export_services
from exports.models import Export
from study.roles import Role
from tests.conftest import make_user
from tests.crf.test_outbox import start_worker, wait_until
from tests.crf.test_outbox_faults import Stack
from tests.endpoints.conftest import CUTOFF, World, make_world, populate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.req("ISSUE-32"),
    pytest.mark.req("ISSUE-26"),  # a real worker builds a PDF that reads back
    pytest.mark.req("DESIGN-5"),
    pytest.mark.timeout(2400),  # 21 min measured on the shared 2-core machine at load 17-20 (boots of the workers)
]

KILLS = int(os.environ.get("FAULT_WORKER_KILLS", "10"))  # fewer only while developing the test
FAST_RECOVERY = {
    "JOB_HEARTBEAT_SECONDS": "0.3",
    "JOB_HEARTBEAT_TIMEOUT_SECONDS": "1.5",
    "JOB_RECOVERY_INTERVAL_SECONDS": "0.5",
    "ENDPOINT_RUN_STEP_PAUSE_SECONDS": "0.15",
    "EXPORT_STEP_PAUSE_SECONDS": "0.15",
    "PDF_STEP_PAUSE_SECONDS": "1.5",
    # every worker of the run records the same code version (an export's define.xml carries it):
    # without this, a commit made while the test runs changes `git describe` between two jobs
    "TRIALSITE_CODE_VERSION": "faults-worker-kill",
    # the beat runs the whole schedule: its nightly endpoint run (18:00 UTC by default) started
    # inside the test added an 11th run to the ten killed ones; put it half a day away
    "ENDPOINT_RUN_HOUR_UTC": str((datetime.now(UTC).hour + 12) % 24),
}
#: the moment of building, on the cover ("Generated at …") and in every page's footer ("generated … by")
GENERATED_AT = re.compile(r"(Generated at|generated)\s+\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?")


class Workers:
    """The relay, beat and two workers; a killed worker is replaced at once."""

    def __init__(self, stack: Stack, tmp_path: Path) -> None:
        self.stack = stack
        self.tmp_path = tmp_path
        self.alive: list[tuple[subprocess.Popen, Path]] = []
        self.nodes: dict[Path, str] = {}
        self.started = 0

    def start(self, *, wait: bool) -> None:
        self.started += 1
        node = f"kill-{self.stack.port}-{self.started}@localhost"
        log = self.tmp_path / f"worker-{self.started}.log"
        worker = start_worker(self.stack.env(**FAST_RECOVERY), log, node)
        self.stack.processes.append(worker)
        self.alive.append((worker, log))
        self.nodes[log] = node
        if wait:
            wait_until(
                lambda: worker.poll() is not None or f"{node} ready." in log.read_text(),
                timeout=90,
                what="the Celery worker to be ready",
            )
            assert worker.poll() is None, log.read_text()

    def wait_ready(self) -> None:
        """Both workers up: each kill then measures the recovery, not a replacement's boot."""
        wait_until(
            lambda: all(log.exists() and f"{self.nodes[log]} ready." in log.read_text() for _w, log in self.alive),
            timeout=120,
            what="the replacement worker to be ready",
        )

    def start_beat(self) -> None:
        self.stack.start_beat(**FAST_RECOVERY)

    def owner_of(self, message_id: int) -> tuple[subprocess.Popen, Path]:
        """The worker that received the outbox message (its log says so)."""
        mark = f"[outbox-{message_id}] received"
        owners = [(w, log) for w, log in self.alive if log.exists() and mark in log.read_text()]
        assert len(owners) == 1, (message_id, [log.name for _w, log in self.alive])
        return owners[0]

    def kill(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGKILL)  # main process and pool child: nothing acks or rejects
        worker.wait(timeout=10)
        self.alive = [(w, log) for w, log in self.alive if w is not worker]
        self.start(wait=False)  # the replacement boots while the other worker recovers the job

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def world(transactional_db) -> World:
    return make_world("kills")


@pytest.fixture
def workers(world, tmp_path) -> Iterator[Workers]:
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        stack.start_relay("--poll-interval", "0.1")
        pool = Workers(stack, tmp_path)
        pool.start(wait=True)
        pool.start(wait=True)
        pool.start_beat()
        yield pool
    finally:
        stack.close()


def message_of(task_name: str, **kwargs: int) -> int:
    """The job's first outbox row (a requeue adds another)."""
    return (
        OutboxMessage.objects.filter(task_name=task_name, kwargs=kwargs).order_by("pk").values_list("pk", flat=True)[0]
    )


def finished_rows(model: type, pk: int, noun: str) -> int:
    """History rows recording the job's success: exactly one per job."""
    events = apps.get_model(model._meta.app_label, f"{model.__name__}Event").objects.filter(pgh_obj_id=pk)
    return sum(1 for c in events.values_list("pgh_context", flat=True) if (c or {}).get("reason") == f"{noun} finished")


def requeued_at(model: type, pk: int, noun: str):
    events = apps.get_model(model._meta.app_label, f"{model.__name__}Event").objects.filter(pgh_obj_id=pk)
    reason = f"{noun} requeued: no heartbeat since the worker stopped"
    return [e.pgh_created_at for e in events.order_by("pgh_id") if (e.pgh_context or {}).get("reason") == reason]


def pdf_text(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), GENERATED_AT.sub(r"\1 <time>", text)


def export_files(export: Export) -> list[tuple[str, int, str]]:
    return sorted(export.files.values_list("name", "rows", "sha256"))


class Kind:
    def __init__(
        self,
        name: str,
        model: type,
        noun: str,
        task: str,
        kwarg: str,
        request: Callable[[], int],
        midway: Callable[[object], bool],
        result: Callable[[object], object],
    ) -> None:
        self.name, self.model, self.noun, self.task, self.kwarg = name, model, noun, task, kwarg
        self.request, self.midway, self.result = request, midway, result

    def get(self, pk: int):
        return self.model.objects.get(pk=pk)


def run_kills(workers: Workers, kind: Kind, expected: object) -> list[tuple[float, float]]:
    """KILLS jobs, each killed once mid-way: (kill → requeued, kill → succeeded) seconds each."""
    times = []
    for _ in range(KILLS):
        workers.wait_ready()
        pk = kind.request()
        message = message_of(kind.task, **{kind.kwarg: pk})
        wait_until(
            lambda pk=pk: kind.midway(kind.get(pk)), timeout=90, what=f"the {kind.name} to be mid-way", interval=0.05
        )
        owner, _log = workers.owner_of(message)
        killed_wall, killed = timezone.now(), time.monotonic()
        workers.kill(owner)
        assert kind.get(pk).status == "running"  # nothing was written by the killed attempt
        wait_until(
            lambda pk=pk: kind.get(pk).status in ("succeeded", "failed"),
            timeout=120,
            what=f"the {kind.name} to be recovered",
            interval=0.05,
        )
        recovered = time.monotonic() - killed
        job = kind.get(pk)
        assert (job.status, job.attempts, job.error) == ("succeeded", 2, ""), (kind.name, pk, job.error)
        assert finished_rows(kind.model, pk, kind.noun) == 1
        (requeued,) = requeued_at(kind.model, pk, kind.noun)
        assert kind.result(job) == expected, (kind.name, pk)
        times.append(((requeued - killed_wall).total_seconds(), recovered))
    return times


def late_deliveries(workers: Workers, kind: Kind, pks: list[int]) -> None:
    """What Redis restores after the visibility timeout: each killed attempt's first message,
    delivered again. A finished job is left as it is."""
    from celery import Celery

    app = Celery("late-delivery", broker=workers.stack.redis_url)
    before = {pk: (kind.get(pk).finished_at, kind.get(pk).attempts) for pk in pks}
    for pk in pks:
        message = message_of(kind.task, **{kind.kwarg: pk})
        app.send_task(kind.task, kwargs={kind.kwarg: pk, "outbox_id": message}, task_id=f"late-{kind.kwarg}-{pk}")
    wait_until(
        lambda: all(f"[late-{kind.kwarg}-{pk}] succeeded" in workers.logs() for pk in pks),
        timeout=120,
        what=f"the late {kind.name} deliveries to run",
    )
    assert {pk: (kind.get(pk).finished_at, kind.get(pk).attempts) for pk in pks} == before


def summary(name: str, times: list[tuple[float, float]]) -> str:
    detect = [d for d, _r in times]
    recover = [r for _d, r in times]
    return (
        f"\nFAULT worker-killed {name}: attempted={len(times)} kills, completed={len(times)} once each, "
        f"lost=0 duplicated=0; kill→requeued min/median/max = "
        f"{min(detect):.1f}/{statistics.median(detect):.1f}/{max(detect):.1f} s; kill→succeeded = "
        f"{min(recover):.1f}/{statistics.median(recover):.1f}/{max(recover):.1f} s"
    )


def test_worker_killed_mid_job_ten_times_each_every_job_completes_once_with_the_same_result(world, workers):
    subjects = populate(world)
    manager = make_user("data_manager_kills", site=world.site, role=Role.DATA_MANAGER)
    subject = subjects["failed"]  # a screen failure: a short casebook, quick to build
    snapshot = timezone.now() - timedelta(seconds=1)  # after the data: every job reads the same cut

    def request_run() -> int:
        run = run_services.request_run(
            actor=world.statistician, study=world.study, cutoff_date=CUTOFF, snapshot_at=snapshot
        )
        return run.pk

    def request_export() -> int:
        export = export_services.request_export(
            actor=world.statistician, study=world.study, cutoff_date=CUTOFF, snapshot_at=snapshot
        )
        return export.pk

    def request_pdf() -> int:
        with transaction.atomic():  # the same data cut for every casebook: fixed before the relay sees it
            job = pdf_jobs.request_pdf(
                actor=manager, study=world.study, kind=PdfKind.CASEBOOK, subject=subject, language="en"
            )
            PdfJob.objects.filter(pk=job.pk).update(snapshot_at=snapshot)
        return job.pk

    kinds = [
        Kind(
            "endpoint run",
            EndpointRun,
            run_services.RUN_JOB.noun,
            run_services.TASK_NAME,
            "run_id",
            request_run,
            lambda j: j.status == "running" and 30 <= j.progress < 80,
            lambda j: j.results_sha256,
        ),
        Kind(
            "export",
            Export,
            export_services.EXPORT_JOB.noun,
            export_services.TASK_NAME,
            "export_id",
            request_export,
            lambda j: j.status == "running" and 25 <= j.progress < 70,
            export_files,
        ),
        Kind(
            "PDF casebook",
            PdfJob,
            pdf_jobs.PDF_JOB.noun,
            pdf_jobs.TASK_NAME,
            "job_id",
            request_pdf,
            lambda j: j.status == "running" and j.progress == 90,  # rendered, not yet stored
            lambda j: pdf_text(bytes(j.content)),
        ),
    ]

    # undisturbed, through the same workers: the expected results
    expected = {}
    for kind in kinds:
        pk = kind.request()
        wait_until(
            lambda kind=kind, pk=pk: kind.get(pk).status in ("succeeded", "failed"),
            timeout=120,
            what=f"the {kind.name}",
        )
        job = kind.get(pk)
        assert (job.status, job.attempts, job.error) == ("succeeded", 1, "")
        expected[kind.name] = kind.result(job)
    assert len(expected["endpoint run"]) == 64
    assert expected["export"] and all(len(sha) == 64 for _name, _rows, sha in expected["export"])
    # issue 26: a PDF built by a real worker reads back with its known values
    pages, text = expected["PDF casebook"]
    assert pages >= 2
    assert f"Casebook · {pdf_jobs.subject_label(subject)}" in text
    assert "Status Screen failure" in text  # a known value: the subject's status on the cover
    assert "Generated at <time>" in text and "Generated by data_manager_kills" in text
    assert text.count("generated <time>") == pages  # every page's footer

    lines = []
    for kind in kinds:
        first = kind.model.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1
        times = run_kills(workers, kind, expected[kind.name])
        killed = list(kind.model.objects.filter(pk__gte=first).order_by("pk").values_list("pk", flat=True))
        assert len(killed) == KILLS
        late_deliveries(workers, kind, killed)
        lines.append(summary(kind.name, times))
    print("".join(lines), flush=True)
    assert "recover_stuck" in (workers.tmp_path / "beat.log").read_text()
