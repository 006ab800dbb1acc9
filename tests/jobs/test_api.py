"""The shared job resource (jobs.api.JobViewSet; issue 23, DESIGN §4a, §6) as the three
resources answer it: the gate before the body (403, not 400, for a role that may not start),
404 for a non-numeric id, and an ETag on a job that changes when the job moves."""

from __future__ import annotations

import pytest

from endpoints import services
from endpoints.models import EndpointRun
from jobs import services as jobs
from tests.endpoints.conftest import CUTOFF, make_world

pytestmark = [pytest.mark.req("ISSUE-23"), pytest.mark.django_db]


@pytest.fixture
def world(db):
    return make_world("jobapi")


@pytest.mark.parametrize("resource", ["endpoint-runs", "exports", "pdfs"])
def test_a_role_that_may_not_start_gets_403_before_its_body_is_read(world, client, api_token, resource):
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.coordinator)}"}
    answer = client.post(f"/api/v1/{resource}/", {"cutoff_date": "June"}, content_type="application/json", **auth)
    assert answer.status_code == 403
    assert client.get(f"/api/v1/{resource}/x/", **auth).status_code == 404


def test_a_polled_job_carries_an_etag_that_moves_with_it(world, client, api_token):
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    queued = client.get(f"/api/v1/endpoint-runs/{run.pk}/", **auth)
    assert queued.status_code == 200 and queued.json()["status"] == "queued"
    assert client.get(f"/api/v1/endpoint-runs/{run.pk}/", **auth)["ETag"] == queued["ETag"]
    claimed = jobs.claim(services.RUN_JOB, run.pk)
    assert claimed is not None
    jobs.progress(services.RUN_JOB, run.pk, claimed[1], 40)
    running = client.get(f"/api/v1/endpoint-runs/{run.pk}/", **auth)
    assert (running.json()["status"], running.json()["progress"]) == ("running", 40)
    assert running["ETag"] != queued["ETag"]
    assert EndpointRun.objects.get(pk=run.pk).attempts == 1
