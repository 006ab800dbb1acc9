"""Bad input answers 400 with a reason and saves nothing (issue 21): NUL characters in query
parameters, the reason header and JSON bodies; JSON nested thousands deep; an over-long reason
header; `?limit=` capped; a study with no protocol settings yet."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-21")


@pytest.fixture
def coordinator_api(users_a, api_token):
    return Client(HTTP_AUTHORIZATION=f"Token {api_token(users_a['coordinator'])}")


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    assert client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    return client


def test_nul_in_a_query_parameter_is_400(coordinator_api, users_a):
    response = coordinator_api.get("/api/v1/subjects/?status=%00")
    assert response.status_code == 400
    assert response.json() == {"detail": "Query parameter “status” contains a NUL character."}
    page = _signed_in(users_a["coordinator"]).get("/subjects/?q=a%00b")
    assert page.status_code == 400
    assert "contains a NUL character" in page.content.decode()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("typo%00", "The X-Reason-For-Change header contains a NUL character."),
        ("x" * 301, "The reason for change may have at most 300 characters."),
    ],
)
def test_bad_reason_header_is_400(coordinator_api, subject_a, header, message):
    response = coordinator_api.patch(
        f"/api/v1/subjects/{subject_a.pk}/", {}, content_type="application/json", HTTP_X_REASON_FOR_CHANGE=header
    )
    assert response.status_code == 400
    assert response.json() == {"detail": message}


def test_json_nested_5000_deep_is_400(coordinator_api):
    body = "[" * 5000 + "]" * 5000
    response = coordinator_api.post("/api/v1/subjects/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested deeper than 32 levels."}


def test_nul_in_a_json_string_is_400(coordinator_api):
    response = coordinator_api.post(
        "/api/v1/subjects/", '{"screening_number": "S\\u0000"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Text may not contain NUL characters."}


def test_limit_is_capped(coordinator_api, site_a):
    from subjects.models import Subject

    Subject.objects.bulk_create([Subject(site=site_a, screening_number=f"S{i:04d}") for i in range(1002)])
    response = coordinator_api.get("/api/v1/subjects/?limit=999999999999")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1000
    assert "offset=1000" in response.json()["next"]


def test_a_study_without_protocol_settings_opens_its_pages(study, users_a, api_token):
    admin = _signed_in(users_a["study_admin"])
    assert admin.get("/admin/protocol-settings/").status_code == 200
    investigator = _signed_in(users_a["investigator"])
    assert investigator.get("/safety/dlt/").status_code == 200
    assert investigator.get("/safety/dashboard/").status_code == 200
    monitor = Client(HTTP_AUTHORIZATION=f"Token {api_token(users_a['investigator'])}").get("/api/v1/dlt-monitor/")
    assert monitor.status_code == 409
    assert "no protocol settings" in monitor.json()["detail"]
