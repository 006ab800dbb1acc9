"""Endpoint runs through a REAL Celery worker on a private Redis (issue 11 "Done when"): the
outbox relay publishes the run, a worker process computes it; a worker killed mid-run leaves
no result served, and the redelivered task computes the run again from the same snapshot."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from endpoints import services
from endpoints.models import EndpointRun, RunStatus
from tests.crf.test_outbox import wait_until
from tests.crf.test_outbox_faults import Stack, pool_children
from tests.endpoints.conftest import CUTOFF, populate

pytestmark = [pytest.mark.slow, pytest.mark.req("ISSUE-11")]


@pytest.fixture
def stack(world, tmp_path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def run_state(pk: int) -> EndpointRun:
    return EndpointRun.objects.get(pk=pk)


def in_process_twin(run: EndpointRun) -> EndpointRun:
    twin = services.request_run(actor=None, study=run.study, cutoff_date=run.cutoff_date, snapshot_at=run.snapshot_at)
    return services.compute_run(run_id=twin.pk)


def test_a_run_goes_through_the_outbox_and_a_real_worker(world, stack):
    populate(world)
    stack.start_redis()
    stack.start_worker()
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    assert stack.relay_once().returncode == 0
    wait_until(lambda: run_state(run.pk).status == RunStatus.SUCCEEDED, timeout=60, what="the worker to finish the run")
    done = run_state(run.pk)
    assert (done.progress, done.attempts, done.settings_version) == (100, 1, 1)
    # another process (this one), same cut and snapshot: the same bytes
    assert in_process_twin(done).results_json == done.results_json


#: the jobs' heartbeat and recovery, lowered for this test's processes (jobs.services; production 15/90/60 s)
FAST_RECOVERY = {
    "JOB_HEARTBEAT_SECONDS": "0.5",
    "JOB_HEARTBEAT_TIMEOUT_SECONDS": "2",
    "JOB_RECOVERY_INTERVAL_SECONDS": "1",
}


def test_a_worker_killed_mid_run_serves_no_partial_result_and_the_run_is_retried(world, stack, client, api_token):
    """The pool process killed: Celery requeues the message at once, but the run's heartbeat is
    still fresh, so that delivery leaves it alone (it cannot tell a dead worker from a live one);
    the stuck-job recovery requeues it once the heartbeat is stale (jobs.services, issue 32)."""
    populate(world)
    stack.start_redis()
    stack.start_beat(**FAST_RECOVERY)
    stack.start_relay("--poll-interval", "0.2")
    worker = stack.start_worker(ENDPOINT_RUN_STEP_PAUSE_SECONDS="2", **FAST_RECOVERY)
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    wait_until(lambda: run_state(run.pk).progress >= 32, timeout=60, what="the run to be part-way")
    (child,) = pool_children(worker)
    os.kill(child, signal.SIGKILL)

    killed = run_state(run.pk)
    assert killed.status == RunStatus.RUNNING and 0 < killed.progress < 100
    assert (killed.results_json, killed.results_csv, killed.results_sha256) == ("", "", "")
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    assert client.get(f"/api/v1/endpoint-runs/{run.pk}/results/", **auth).status_code == 409

    wait_until(
        lambda: run_state(run.pk).status == RunStatus.SUCCEEDED, timeout=90, what="the redelivered run to finish"
    )
    done = run_state(run.pk)
    assert done.attempts == 2  # the killed attempt and its retry (the immediate redelivery claimed nothing)
    assert done.snapshot_at == killed.snapshot_at
    assert in_process_twin(done).results_json == done.results_json
    assert client.get(f"/api/v1/endpoint-runs/{run.pk}/results/", **auth).status_code == 200
