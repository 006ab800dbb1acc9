"""Endpoint run page and API `endpoint-runs` (DESIGN §4a "start endpoint runs" / "view endpoint
run results", §6): who may start and read, 404 across studies, progress as a bar and a figure,
the tables in Chinese and English, files, field-level 400s."""

from __future__ import annotations

import pytest

from crf.models import OutboxMessage
from endpoints import services
from endpoints.models import EndpointRun, RunStatus
from study.models import Membership
from study.roles import Role
from tests.conftest import make_user
from tests.endpoints.conftest import CUTOFF, make_world, populate

pytestmark = [pytest.mark.req("ISSUE-11"), pytest.mark.django_db]

START = {Role.DATA_MANAGER, Role.STATISTICIAN, Role.STUDY_ADMIN}
VIEW = {Role.INVESTIGATOR, Role.DATA_MANAGER, Role.STATISTICIAN, Role.STUDY_ADMIN}


@pytest.fixture
def world(db):
    return make_world("pages")


def member(world, role: str):
    return make_user(f"{role}_member", site=world.site, role=role)


def finished_run(world) -> EndpointRun:
    populate(world)
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    return services.compute_run(run_id=run.pk)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_who_may_start_and_view_runs_on_the_page(world, login, role):
    client = login(member(world, role))
    listing = client.get("/endpoints/")
    assert listing.status_code == (200 if role in VIEW else 403)
    response = client.post("/endpoints/", {"cutoff_date": "2026-06-30"})
    if role in START:
        run = EndpointRun.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/endpoints/{run.pk}/"
        assert (run.trigger, run.requested_by.username) == ("page", f"{role}_member")
        assert OutboxMessage.objects.filter(kwargs={"run_id": run.pk}).exists()
    else:
        assert response.status_code == 403
        assert not EndpointRun.objects.exists()


def test_run_page_shows_progress_then_tables_in_chinese_and_files(world, login, client):
    run = services.request_run(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    EndpointRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress=40)
    login(world.statistician)
    page = client.get(f"/endpoints/{run.pk}/").content.decode()
    assert '<progress id="run-progress" value="40" max="100">' in page and "<strong>40%</strong>" in page
    assert "data-live-run" in page
    EndpointRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, progress=0, attempts=0)
    populate(world)
    done = services.compute_run(run_id=run.pk)
    page = client.get(f"/endpoints/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Subject disposition" in page and "data-live-run" not in page
    client.cookies["django_language"] = "zh-hans"
    world.statistician.language = "zh-hans"
    world.statistician.save(update_fields=["language"])
    page = client.get(f"/endpoints/{run.pk}/").content.decode()
    assert "受试者分布" in page and "筛选失败" in page
    csv = client.get(f"/endpoints/{run.pk}/tables.csv")
    assert csv["Content-Type"].startswith("text/csv") and csv.content.decode() == done.results_csv
    assert client.get(f"/endpoints/{run.pk}/tables.xlsx").content[:2] == b"PK"
    assert client.get(f"/endpoints/{run.pk}/tables.pdf").status_code == 404


def test_other_studies_runs_are_404_and_coordinators_403(world, login, client, other_admin):
    run = finished_run(world)
    assert login(other_admin).get(f"/endpoints/{run.pk}/").status_code == 404
    client.logout()
    coordinator = member(world, Role.COORDINATOR)
    assert login(coordinator).get(f"/endpoints/{run.pk}/").status_code == 403


def test_api_start_poll_and_read_results(world, client, api_token):
    token = api_token(world.statistician)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    bad = client.post("/api/v1/endpoint-runs/", {"cutoff_date": "2999-01-01"}, content_type="application/json", **auth)
    assert bad.status_code == 400 and "cutoff_date" in bad.json()
    bad = client.post("/api/v1/endpoint-runs/", {"cutoff_date": "June"}, content_type="application/json", **auth)
    assert bad.status_code == 400 and "cutoff_date" in bad.json()
    populate(world)
    started = client.post(
        "/api/v1/endpoint-runs/", {"cutoff_date": "2026-06-30"}, content_type="application/json", **auth
    )
    assert started.status_code == 202, started.content
    body = started.json()
    assert (body["status"], body["progress"], body["study"]) == ("queued", 0, "pages")
    assert client.get(f"/api/v1/endpoint-runs/{body['id']}/results/", **auth).status_code == 409
    services.compute_run(run_id=body["id"])
    polled = client.get(f"/api/v1/endpoint-runs/{body['id']}/", **auth).json()
    assert (polled["status"], polled["progress"], polled["settings_version"]) == ("succeeded", 100, 1)
    results = client.get(f"/api/v1/endpoint-runs/{body['id']}/results/", **auth)
    assert results["ETag"] == f'"{polled["results_sha256"]}"'
    disposition = results.json()["tables"][0]
    assert disposition["key"] == "disposition" and disposition["rows"][0]["n"] == 4
    listed = client.get("/api/v1/endpoint-runs/", **auth).json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]


def test_api_permissions(world, client, api_token, other_admin):
    run = finished_run(world)
    investigator = member(world, Role.INVESTIGATOR)
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(investigator)}"}
    assert client.get(f"/api/v1/endpoint-runs/{run.pk}/results/", **auth).status_code == 200
    refused = client.post(
        "/api/v1/endpoint-runs/", {"cutoff_date": "2026-06-30"}, content_type="application/json", **auth
    )
    assert refused.status_code == 403
    other = {"HTTP_AUTHORIZATION": f"Token {api_token(other_admin)}"}
    assert client.get(f"/api/v1/endpoint-runs/{run.pk}/", **other).status_code == 404
    assert client.get("/api/v1/endpoint-runs/", **other).json()["results"] == []
    coordinator = member(world, Role.COORDINATOR)
    coord = {"HTTP_AUTHORIZATION": f"Token {api_token(coordinator)}"}
    assert client.get(f"/api/v1/endpoint-runs/{run.pk}/", **coord).status_code == 403
    assert Membership.objects.filter(user=coordinator).exists()


def test_run_page_names_ae_terms_and_organ_classes_in_the_readers_language(world, login, client):
    """The walk: a Chinese reader saw "Febrile neutropenia" and "Blood and lymphatic system
    disorders" alone in the run's AE tables, where the safety dashboard shows the Chinese names."""
    done = finished_run(world)
    login(world.statistician)
    english = client.get(f"/endpoints/{done.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<td>Febrile neutropenia</td>" in english and "<td>Blood and lymphatic system disorders</td>" in english
    world.statistician.language = "zh-hans"
    world.statistician.save(update_fields=["language"])
    chinese = client.get(f"/endpoints/{done.pk}/").content.decode()
    assert "<td>Febrile neutropenia 发热性中性粒细胞减少症</td>" in chinese
    assert "<td>血液及淋巴系统疾病</td>" in chinese
    assert "<td>Febrile neutropenia</td>" not in chinese
