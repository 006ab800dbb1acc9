"""Redis stopped for 30 s (issue 32 §1), with real processes on a private redis-server (never the
shared one on 6379), the outbox relay and a Celery worker (tests/crf/test_outbox_faults.py).
While the broker is down a coordinator keeps saving vital signs through the API (each 201, with
its row and one audit insert), a statistician requests an endpoint run through the API (202) and
a serious adverse event raises an SAE alert: their outbox rows wait unsent while the relay keeps
retrying. When Redis returns (empty: nothing of the outage survived in the broker) the relay
publishes them and each runs exactly once — the run gives the same results as an undisturbed
in-process twin, and each alert delivery is sent once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection

from adverse_events.models import AlertDelivery, DeliveryStatus, Notification, SafetyAlert
from adverse_events.services.alerts import TASK as ALERT_TASK
from crf.models import OutboxMessage
from endpoints.models import EndpointRun, RunStatus
from endpoints.services import TASK_NAME as RUN_TASK
from study.roles import Role
from tests.api.conftest import send, token_client
from tests.conftest import make_user
from tests.crf.test_outbox import execution_of, wait_until
from tests.crf.test_outbox_faults import Stack
from tests.endpoints.conftest import CUTOFF, DAY0, World, make_world, populate
from tests.endpoints.test_worker import in_process_twin

pytestmark = [pytest.mark.slow, pytest.mark.req("ISSUE-32"), pytest.mark.timeout(300)]

OUTAGE_SECONDS = 30


@pytest.fixture
def world(transactional_db) -> World:
    """The endpoint tests' study (two sites, one user per role) under a code of its own."""
    return make_world("faults")


@pytest.fixture
def stack(world, tmp_path):
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def outbox_row(task_name: str, **kwargs: int) -> OutboxMessage:
    return OutboxMessage.objects.get(task_name=task_name, kwargs=kwargs)


def audit_inserts(ids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM labs_vitalsignsevent WHERE pgh_label = 'insert' AND pgh_obj_id = ANY(%s)", [ids]
        )
        return int(cursor.fetchone()[0])


def test_redis_stopped_for_30_seconds_saves_go_on_and_the_work_runs_once_after(world, stack):
    from labs.models import VitalSigns

    subjects = populate(world)
    subject = next(iter(subjects.values()))
    investigator = make_user("investigator_faults", site=world.site, role=Role.INVESTIGATOR)
    coordinator = token_client(world.coordinator)
    statistician = token_client(world.statistician)
    stack.start_redis()
    stack.start_relay("--poll-interval", "0.2", "--max-backoff", "2")
    stack.start_worker()

    attempts: list[tuple[int, int | None]] = []  # (status, id) of every save

    def save_vitals() -> None:
        n = len(attempts)
        body = {
            "subject": subject.pk,
            "assessment_date": (DAY0 + timedelta(days=1 + n // 1000)).isoformat(),
            "assessment_time": f"{n % 1000 // 60:02d}:{n % 60:02d}:00",
            "temperature_c": "37.2",
            "systolic_bp": 118,
            "heart_rate": 84,
        }
        response = send(coordinator, "POST", "/api/v1/vital-signs/", body)
        attempts.append((response.status_code, response.json().get("id") if response.status_code == 201 else None))

    for _ in range(3):
        save_vitals()

    stack.stop_redis()
    down_at = time.monotonic()
    started = send(statistician, "POST", "/api/v1/endpoint-runs/", {"cutoff_date": CUTOFF.isoformat()})
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    onset = DAY0 + timedelta(days=5)
    sae = world.ae(subject, ctcae_term="Sepsis", grade=4, serious_life_threatening=True, onset_date=onset)
    alert = SafetyAlert.objects.get(source_key=f"sae:{sae.pk}")
    while time.monotonic() - down_at < OUTAGE_SECONDS:
        save_vitals()
        time.sleep(0.5)

    run_row, alert_row = outbox_row(RUN_TASK, run_id=run_id), outbox_row(ALERT_TASK, alert_id=alert.pk)
    assert (run_row.sent_at, alert_row.sent_at) == (None, None)  # waiting in the outbox
    # the relay kept trying (the oldest unsent row first; the others wait behind it)
    assert OutboxMessage.objects.filter(sent_at__isnull=True, attempts__gte=3).exists()
    assert EndpointRun.objects.get(pk=run_id).status == RunStatus.QUEUED
    assert set(AlertDelivery.objects.filter(alert=alert).values_list("status", flat=True)) == {DeliveryStatus.PENDING}

    stack.start_redis()  # empty: nothing of the outage survived in the broker
    back_at = time.monotonic()
    wait_until(lambda: EndpointRun.objects.get(pk=run_id).status == RunStatus.SUCCEEDED, timeout=120, what="the run")
    wait_until(
        lambda: (e := execution_of(alert_row.pk)) is not None and e.finished_at is not None,
        timeout=60,
        what="the alert delivery",
    )
    recovered = time.monotonic() - back_at
    for _ in range(3):
        save_vitals()

    run = EndpointRun.objects.get(pk=run_id)
    deliveries = list(AlertDelivery.objects.filter(alert=alert).values_list("channel", "status"))
    acknowledged = [pk for status, pk in attempts if status == 201]
    rows = VitalSigns.objects.filter(pk__in=acknowledged).count()
    inserts = audit_inserts(acknowledged)
    log = stack.worker_log.read_text()
    received = (
        log.count(f"{RUN_TASK}[outbox-{run_row.pk}] received"),
        log.count(f"{ALERT_TASK}[outbox-{alert_row.pk}] received"),
    )
    runs = (run.attempts, execution_of(alert_row.pk).runs)  # the run row and the outbox each count their runs
    jobs_done = int(run.status == RunStatus.SUCCEEDED) + int(all(s == DeliveryStatus.SENT for _, s in deliveries))
    print(
        f"\nFAULT redis-stopped-{OUTAGE_SECONDS}s: attempted={len(attempts)} saves + 2 jobs "
        f"committed={rows} saves + {jobs_done} jobs answered={len(attempts)} (201={len(acknowledged)}) "
        f"lost={len(acknowledged) - rows} duplicated={inserts - rows} job-runs={runs} deliveries-received={received} "
        f"recovered-in={recovered:.1f}s",
        flush=True,
    )
    assert [status for status, _ in attempts] == [201] * len(attempts)
    assert len(attempts) > 30
    assert rows == inserts == len(acknowledged)
    assert runs == (1, 1)
    assert received == (1, 1)
    assert run.progress == 100
    stack.close()  # the twin is computed here, not picked up by the relay and worker
    assert in_process_twin(run).results_json == run.results_json
    assert sorted(deliveries) == sorted([("in_app", DeliveryStatus.SENT), ("email", DeliveryStatus.SENT)])
    assert Notification.objects.filter(user=investigator, alert=alert).count() == 1
    assert jobs_done == 2
