"""The DLT candidate page follows DESIGN §4a like the API (issue 21): a study admin may not view
safety data, so the page answers 403 as `/api/v1/dlt-candidates/<id>/` does."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.adverse_events.test_dlt_api import candidate  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-21")


def test_study_admin_cannot_open_a_dlt_candidate_page(candidate, users_a, login, client):  # noqa: F811
    login(users_a["study_admin"])
    assert client.get(f"/safety/dlt/candidates/{candidate.pk}/").status_code == 403
    investigator = Client()
    investigator.post("/accounts/login/", {"username": users_a["investigator"].username, "password": PASSWORD})
    assert investigator.get(f"/safety/dlt/candidates/{candidate.pk}/").status_code == 200
