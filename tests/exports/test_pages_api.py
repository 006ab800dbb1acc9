"""Export pages and API `exports` (DESIGN §4a "start endpoint runs and de-identified exports",
§6): who may start and read (expectations from DESIGN §4a: data manager, statistician, study
admin — a coordinator is refused, 403 on the page and the API, and nothing is queued), 404
across studies, field-level 400s, poll, download and paged dataset reads, each audited, and the
page in English and Chinese with its conformance report."""

from __future__ import annotations

import hashlib

import pytest

from crf.models import OutboxMessage
from exports import services
from exports.models import Export, ExportDownload
from jobs import services as jobs
from study.roles import Role
from tests.conftest import make_user
from tests.endpoints.conftest import CUTOFF, make_world

pytestmark = [pytest.mark.req("ISSUE-14"), pytest.mark.django_db]

MAY_EXPORT = {Role.DATA_MANAGER, Role.STATISTICIAN, Role.STUDY_ADMIN}


@pytest.fixture
def world(db):
    return make_world("expages")


def member(world, role: str):
    return make_user(f"{role}_member", site=world.site, role=role)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_who_may_start_exports_on_the_page_and_the_api(world, client, login, api_token, role):
    user = member(world, role)
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(user)}"}
    login(user)
    page = client.get("/exports/")
    home = client.get("/").content.decode()
    posted = client.post("/exports/", {"cutoff_date": "2026-06-30", "datasets": ["DM"], "formats": ["csv"]})
    api = client.post("/api/v1/exports/", {"cutoff_date": "2026-06-30"}, content_type="application/json", **auth)
    listed = client.get("/api/v1/exports/", **auth)
    if role in MAY_EXPORT:
        assert (page.status_code, posted.status_code, api.status_code, listed.status_code) == (200, 302, 202, 200)
        assert 'href="/exports/"' in home
        assert Export.objects.filter(requested_by=user).count() == 2
        assert OutboxMessage.objects.filter(task_name="exports.tasks.build_export").count() == 2
    else:
        assert (page.status_code, posted.status_code, api.status_code, listed.status_code) == (403, 403, 403, 403)
        assert 'href="/exports/"' not in home
        assert not Export.objects.exists()
        assert not OutboxMessage.objects.filter(task_name="exports.tasks.build_export").exists()


def test_a_coordinators_service_call_is_refused_too(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.request_export(actor=world.coordinator, study=world.study, cutoff_date=CUTOFF)


def test_api_start_poll_download_and_page_through_a_dataset(world, client, api_token, login, other_admin):
    world.infused()
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(world.statistician)}"}
    bad = client.post(
        "/api/v1/exports/",
        {"cutoff_date": "2999-01-01", "datasets": ["DM", "XX"], "formats": ["sas"]},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400 and {"formats"} <= set(bad.json())
    bad = client.post(
        "/api/v1/exports/",
        {"cutoff_date": "2999-01-01", "datasets": ["DM", "XX"]},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400 and {"cutoff_date", "datasets"} <= set(bad.json())
    started = client.post(
        "/api/v1/exports/",
        {"cutoff_date": "2026-06-30", "datasets": ["DM", "EX"], "formats": ["csv", "xpt"]},
        content_type="application/json",
        **auth,
    )
    assert started.status_code == 202, started.content
    pk = started.json()["id"]
    assert (started.json()["status"], started.json()["progress"]) == ("queued", 0)
    assert client.get(f"/api/v1/exports/{pk}/conformance/", **auth).status_code == 409
    services.compute_export(export_id=pk)

    polled = client.get(f"/api/v1/exports/{pk}/", **auth)
    body = polled.json()
    assert polled.status_code == 200 and polled["ETag"]
    assert (body["status"], body["progress"], body["passes_conformance"]) == ("succeeded", 100, True)
    assert body["row_counts"] == {"DM": 1, "SUPPDM": 0, "EX": 3, "SUPPEX": 12}
    names = {f["name"]: f for f in body["files"]}
    assert set(names) == {
        "dm.csv",
        "dm.xpt",
        "ex.csv",
        "ex.xpt",
        "suppex.csv",
        "suppex.xpt",
        "define.json",
        "define.xml",
        "define.html",
        "define2-1.xsl",
    }
    report = client.get(f"/api/v1/exports/{pk}/conformance/", **auth).json()
    assert (report["errors"], report["passes"]) == (0, True)

    download = client.get(f"/api/v1/exports/{pk}/files/dm.xpt/", **auth)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == names["dm.xpt"]["sha256"] == download["ETag"].strip('"')
    assert client.get(f"/api/v1/exports/{pk}/files/nope.csv/", **auth).status_code == 404

    page = client.get(f"/api/v1/exports/{pk}/datasets/EX/?limit=2&offset=1", **auth).json()
    assert (page["count"], page["offset"], page["limit"], len(page["rows"])) == (3, 1, 2, 2)
    assert [c["name"] for c in page["columns"]][:4] == ["STUDYID", "DOMAIN", "USUBJID", "EXSEQ"]
    assert [row[3] for row in page["rows"]] == [2, 3]
    as_csv = client.get(f"/api/v1/exports/{pk}/datasets/EX/?output=csv&limit=1", **auth)
    assert as_csv["X-Total-Count"] == "3"
    assert (
        as_csv.content.decode()
        .splitlines()[1]
        .startswith("expages,EX,expages-01-A-001,1,CYCLOPHOSPHAMIDE,LYMPHODEPLETION,300,mg/m2")
    )
    bad = client.get(f"/api/v1/exports/{pk}/datasets/EX/?limit=0&output=xml", **auth)
    assert bad.status_code == 400 and set(bad.json()) == {"limit", "output"}

    audited = list(
        ExportDownload.objects.filter(export_id=pk).order_by("pk").values_list("user__username", "what", "channel")
    )
    assert audited == [
        ("statistician_expages", "dm.xpt", "api"),
        ("statistician_expages", "EX rows 1-3 json", "api"),
        ("statistician_expages", "EX rows 0-1 csv", "api"),
    ]

    # the page: progress, verdict, report, files, downloads; a page download is audited too
    login(world.statistician)
    english = client.get(f"/exports/{pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Conformance: no errors" in english and "Conformance report" in english and "suppex.xpt" in english
    assert client.get(f"/exports/{pk}/files/ex.csv").status_code == 200
    assert ExportDownload.objects.filter(export_id=pk, what="ex.csv", channel="page").count() == 1
    client.cookies["django_language"] = "zh-hans"
    world.statistician.language = "zh-hans"
    world.statistician.save(update_fields=["language"])
    chinese = client.get(f"/exports/{pk}/").content.decode()
    assert "合规性检查：无错误" in chinese and "数据集导出" in chinese

    # another study's admin: outside the gate (404); a coordinator of this site: 403
    client.logout()
    login(other_admin)
    assert client.get(f"/exports/{pk}/").status_code == 404
    other_auth = {"HTTP_AUTHORIZATION": f"Token {api_token(other_admin)}"}
    assert client.get(f"/api/v1/exports/{pk}/", **other_auth).status_code == 404
    client.logout()
    login(world.coordinator)
    assert client.get(f"/exports/{pk}/").status_code == 403
    assert client.get(f"/exports/{pk}/files/dm.xpt").status_code == 403


def test_an_export_left_running_by_a_dead_worker_is_failed_after_the_time_limit(world, settings):
    from datetime import timedelta

    from django.utils import timezone

    from exports.models import ExportStatus

    export = services.request_export(actor=world.statistician, study=world.study, cutoff_date=CUTOFF)
    started = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    assert jobs.claim(services.EXPORT_JOB, export.pk, now=started) is not None  # a worker took it, then died
    assert jobs.fail_stuck(services.EXPORT_JOB) == [export.pk]
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and "time limit" in export.error
    assert not export.files.exists()
    # a late redelivery finds it finished and writes nothing
    assert services.compute_export(export_id=export.pk).status == ExportStatus.FAILED
    assert not export.files.exists()


def test_every_dataset_on_the_export_page_is_named_in_both_languages(db):
    """No dataset is offered under its bare name ("ADLB · ADLB" before ADLB had a title); the
    analysis datasets' titles are translated."""
    from django.utils import translation

    from exports.views import dataset_choices

    for language in ("en", "zh-hans"):
        with translation.override(language):
            choices = dict(dataset_choices())
        assert {name for name, label in choices.items() if label == f"{name} · {name}"} == set(), language
        assert {"ADSL", "ADAE", "ADLB", "ADEX", "ADCM", "ADTTE", "ADRS"} <= set(choices)
    with translation.override("zh-hans"):
        assert (
            dict(dataset_choices())["ADLB"]
            == "ADLB · ADaM 实验室检查：CTCAE 分级、基线、相对基线的变化、基线后最差分级标记"
        )
