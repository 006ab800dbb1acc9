"""Authorization holes found by the issue-21 probes (DESIGN §4a and its notes): self-granted
roles, a study admin on the DLT candidate page, a one-site data manager changing the study-wide
SDV plan, API tokens and sessions surviving a deactivation, and cacheable subject data."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from crf.models import SdvPlan
from study.models import Membership
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.req("ISSUE-21")


def test_a_study_admin_cannot_grant_itself_a_role(users_a, site_b, login, client):
    admin = users_a["study_admin"]
    login(admin)
    response = client.post(f"/admin/users/{admin.pk}/grant/", {"site": site_b.pk, "role": "coordinator"})
    assert response.status_code == 403
    assert list(Membership.objects.filter(user=admin).values_list("site__code", "role")) == [("01", "study_admin")]


def test_a_study_admin_cannot_end_its_own_role(users_a, login, client):
    admin = users_a["study_admin"]
    membership = Membership.objects.get(user=admin)
    login(admin)
    response = client.post(f"/admin/memberships/{membership.pk}/end/", {"reason": "leaving"})
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.ended_at is None


def test_another_admin_may_still_grant_a_role(users_a, site_a, site_b, login, client):
    second = make_user("second_admin", site=site_a, role="study_admin")
    admin = users_a["study_admin"]
    login(second)
    response = client.post(f"/admin/users/{admin.pk}/grant/", {"site": site_b.pk, "role": "monitor"})
    assert response.status_code == 302
    assert Membership.objects.filter(user=admin, site=site_b, role="monitor").count() == 1


def test_deactivation_revokes_api_tokens_and_ends_sessions(users_a, login, client, api_token):
    person = users_a["coordinator"]
    token = api_token(person)
    browser = Client()
    assert browser.post("/accounts/login/", {"username": person.username, "password": PASSWORD}).status_code == 302
    assert browser.get("/").status_code == 200
    login(users_a["study_admin"])
    client.post(f"/admin/users/{person.pk}/active/", {"active": "0", "reason": "left the hospital"})
    client.post(f"/admin/users/{person.pk}/active/", {"active": "1", "reason": "came back"})
    assert AuthToken.objects.filter(user=person).count() == 0
    assert Client().get("/api/v1/subjects/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert browser.get("/").status_code == 302  # to the sign-in page: the old session is gone
    sessions = [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()]
    assert str(person.pk) not in sessions


def test_sdv_plan_needs_the_data_manager_role_at_every_site(users_a, site_b, study, login, client):
    login(users_a["data_manager"])
    assert client.get("/data/sdv/plan/").status_code == 403
    plan = {"full_forms": ["INF"], "sample_percent": "25", "seed": "42", "reason": "one site only"}
    assert client.post("/data/sdv/plan/", plan).status_code == 403
    assert not SdvPlan.objects.filter(study=study, sample_percent=25).exists()
    Membership.objects.create(user=users_a["data_manager"], site=site_b, role="data_manager", granted_at=timezone.now())
    assert client.post("/data/sdv/plan/", plan).status_code == 302
    assert SdvPlan.objects.get(study=study).sample_percent == 25


def test_pages_and_api_answers_for_signed_in_users_are_not_stored(users_a, subject_a, login, client, api_token):
    token = api_token(users_a["coordinator"])
    api = Client().get("/api/v1/subjects/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 200
    assert api["Cache-Control"] == "no-store"
    login(users_a["coordinator"])
    page = client.get("/subjects/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
