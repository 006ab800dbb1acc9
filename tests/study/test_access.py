"""Each role's access to the pages and API that exist, per DESIGN §4a, and the visibility gate:
403 for a refused action at one's own site, 404 for anything outside the gate (guessed ids too).

Expectations are literals copied from DESIGN §4a, never computed from study.roles.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from study.models import Membership
from tests.conftest import PASSWORD, basic_auth, make_user

pytestmark = [pytest.mark.req("ISSUE-2"), pytest.mark.req("DESIGN-4a")]

ROLES = ["coordinator", "investigator", "monitor", "data_manager", "statistician", "study_admin"]

# DESIGN §4a, the rows the existing pages depend on (✓ = allowed).
#                     coordinator investigator monitor data_manager statistician study_admin
DESIGN_4A = {
    "view CRF pages": (True, True, True, True, False, False),
    "users and roles": (False, False, False, False, False, True),
}

# Expected HTTP status per page and role, from the rows above: the study home is every member's
# landing page; the subject pages are CRF pages; the user pages are "users and roles".
#                   coordinator investigator monitor data_manager statistician study_admin
PAGE_STATUS = {
    "home": (200, 200, 200, 200, 200, 200),
    "subject_list": (200, 200, 200, 200, 403, 403),
    "subject_detail": (200, 200, 200, 200, 403, 403),
    "user_list": (403, 403, 403, 403, 403, 200),
    "user_invite": (403, 403, 403, 403, 403, 200),
    "user_detail": (403, 403, 403, 403, 403, 200),
}
API_STATUS = {
    "subject_list": (200, 200, 200, 200, 403, 403),
    "subject_detail": (200, 200, 200, 200, 403, 403),
}


def expected(table: dict[str, tuple], row: str, role: str):  # type: ignore[type-arg]
    return table[row][ROLES.index(role)]


def test_page_table_agrees_with_design_rows():
    """The page table above is the DESIGN rows restated as statuses (guards against drift)."""
    for i in range(len(ROLES)):
        crf = 200 if DESIGN_4A["view CRF pages"][i] else 403
        admin = 200 if DESIGN_4A["users and roles"][i] else 403
        assert PAGE_STATUS["subject_list"][i] == PAGE_STATUS["subject_detail"][i] == crf
        assert API_STATUS["subject_list"][i] == API_STATUS["subject_detail"][i] == crf
        assert PAGE_STATUS["user_list"][i] == PAGE_STATUS["user_invite"][i] == PAGE_STATUS["user_detail"][i] == admin


def page_urls(subject, target_user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "home": "/",
        "subject_list": "/subjects/",
        "subject_detail": f"/subjects/{subject.pk}/",
        "user_list": "/admin/users/",
        "user_invite": "/admin/users/invite/",
        "user_detail": f"/admin/users/{target_user.pk}/",
    }


@pytest.mark.parametrize("role", ROLES)
def test_pages_per_role(role, users_a, subject_a, subject_b, login):
    client = login(users_a[role])
    target = users_a["coordinator"]
    for page, url in page_urls(subject_a, target).items():
        response = client.get(url)
        assert response.status_code == expected(PAGE_STATUS, page, role), (role, page, url)


@pytest.mark.parametrize("role", ROLES)
def test_subject_list_shows_only_own_site(role, users_a, subject_a, subject_b, login):
    response = login(users_a[role]).get("/subjects/")
    if response.status_code == 200:
        body = response.content.decode()
        assert "A-001" in body
        assert "B-001" not in body


@pytest.mark.parametrize("auth", ["session", "token"])
@pytest.mark.parametrize("role", ROLES)
def test_api_per_role(role, auth, users_a, subject_a, subject_b, login, api_token):
    user = users_a[role]
    client = login(user) if auth == "session" else Client(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    response = client.get("/api/v1/subjects/")
    assert response.status_code == expected(API_STATUS, "subject_list", role)
    if response.status_code == 200:
        assert [row["subject_id"] for row in response.json()["results"]] == ["A-001"]
    response = client.get(f"/api/v1/subjects/{subject_a.pk}/")
    assert response.status_code == expected(API_STATUS, "subject_detail", role)
    if response.status_code == 200:
        assert response.json() == {
            "id": subject_a.pk,
            "subject_id": "A-001",
            "screening_number": "",
            "site": "01",
            "status": "screening",
            "status_date": None,
            "enrolled_on": None,
            "dose_level": "",
            "planned_infusion_date": None,
            "infusion_date": None,
        }


def _guessed_subject_pks(subject_b, other_subject) -> list[object]:  # type: ignore[no-untyped-def]
    missing = max(subject_b.pk, other_subject.pk) + 1000
    return [subject_b.pk, other_subject.pk, missing]


@pytest.fixture
def other_subject(other_site):
    from subjects.models import Subject

    return Subject.objects.create(site=other_site, subject_id="X-001")


@pytest.mark.parametrize("role", ROLES)
def test_objects_outside_the_gate_are_404_on_pages(role, users_a, subject_b, other_subject, login):
    """Another site's subject, another study's subject, a non-existent id: 404 for every role,
    even the roles that would get 403 at their own site."""
    client = login(users_a[role])
    for pk in _guessed_subject_pks(subject_b, other_subject):
        assert client.get(f"/subjects/{pk}/").status_code == 404, (role, pk)
    assert client.get("/subjects/abc/").status_code == 404


@pytest.mark.parametrize("auth", ["session", "token"])
@pytest.mark.parametrize("role", ROLES)
def test_objects_outside_the_gate_are_404_in_api(role, auth, users_a, subject_b, other_subject, login, api_token):
    user = users_a[role]
    client = login(user) if auth == "session" else Client(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    for pk in [*_guessed_subject_pks(subject_b, other_subject), "abc", "1e3", "-1"]:
        response = client.get(f"/api/v1/subjects/{pk}/")
        assert response.status_code == 404, (role, pk, response.content[:200])
        assert "B-001" not in response.content.decode()


def test_user_pages_outside_the_admins_study_are_404(users_a, other_admin, other_coordinator, login):
    """A study admin reaches only users of the studies they administer; a guessed id is 404."""
    client = login(users_a["study_admin"])
    assert client.get(f"/admin/users/{other_coordinator.pk}/").status_code == 404
    assert client.get(f"/admin/users/{other_admin.pk}/").status_code == 404
    assert client.get("/admin/users/987654321/").status_code == 404
    body = client.get("/admin/users/").content.decode()
    assert "coordinator_a" in body
    assert "coordinator_other" not in body


def test_mixed_roles_are_judged_per_site(site_a, site_b, subject_a, subject_b, login):
    """Statistician at A and coordinator at B: B's subject is a CRF page for them, A's is not."""
    user = make_user("mixed", site=site_a, role="statistician")
    Membership.objects.create(user=user, site=site_b, role="coordinator", granted_at=timezone.now())
    client = login(user)
    assert client.get(f"/subjects/{subject_b.pk}/").status_code == 200
    assert client.get(f"/subjects/{subject_a.pk}/").status_code == 403
    body = client.get("/subjects/").content.decode()
    assert "B-001" in body
    assert "A-001" not in body
    api = client.get("/api/v1/subjects/").json()
    assert [row["subject_id"] for row in api["results"]] == ["B-001"]
    assert client.get(f"/api/v1/subjects/{subject_a.pk}/").status_code == 403


ANONYMOUS_PAGES = ["/", "/subjects/", "/subjects/1/", "/admin/users/", "/admin/users/invite/", "/admin/users/1/"]


@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_anonymous_pages_redirect_to_login(url, client, subject_a):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", ["/api/v1/subjects/", "/api/v1/subjects/1/", "/api/v1/subjects/abc/"])
def test_anonymous_api_is_refused(url, client, subject_a):
    response = client.get(url)
    assert response.status_code in (401, 403)
    assert "A-001" not in response.content.decode()


def test_bad_token_is_refused(client, subject_a):
    response = client.get("/api/v1/subjects/", HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert response.status_code == 401


def test_ended_membership_loses_access(users_a, subject_a, login, api_token):
    user = users_a["coordinator"]
    client = login(user)
    token_client = Client(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    assert client.get(f"/subjects/{subject_a.pk}/").status_code == 200
    assert token_client.get(f"/api/v1/subjects/{subject_a.pk}/").status_code == 200

    Membership.objects.filter(user=user).update(ended_at=timezone.now(), end_reason="left the study")

    assert client.get("/").status_code == 200  # still signed in, but sees no study
    assert "A-001" not in client.get("/").content.decode()
    assert client.get("/subjects/").status_code == 403
    assert client.get(f"/subjects/{subject_a.pk}/").status_code == 404
    assert client.get("/api/v1/subjects/").status_code == 403
    assert client.get(f"/api/v1/subjects/{subject_a.pk}/").status_code == 404
    assert token_client.get("/api/v1/subjects/").status_code == 403
    assert token_client.get(f"/api/v1/subjects/{subject_a.pk}/").status_code == 404


def test_ended_admin_role_loses_user_pages(users_a, login):
    admin = users_a["study_admin"]
    client = login(admin)
    assert client.get("/admin/users/").status_code == 200
    Membership.objects.filter(user=admin).update(ended_at=timezone.now(), end_reason="handed over")
    assert client.get("/admin/users/").status_code == 403
    assert client.get(f"/admin/users/{users_a['coordinator'].pk}/").status_code == 403


def test_deactivated_user_cannot_sign_in(users_a, subject_a, client, login, api_token):
    user = users_a["coordinator"]
    session_client = login(user)
    token = api_token(user)
    user.is_active = False
    user.save(update_fields=["is_active"])

    # An open session and a token issued before deactivation stop working.
    assert session_client.get(f"/subjects/{subject_a.pk}/").status_code == 302
    assert Client(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/subjects/").status_code == 401

    fresh = Client()
    response = fresh.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in fresh.session
    response = fresh.post("/api/v1/auth/login/", HTTP_AUTHORIZATION=basic_auth(user.username, PASSWORD))
    assert response.status_code == 401


@pytest.mark.req("ISSUE-22")
def test_visible_subject_answers_as_the_gates_queryset(site_a, users_a, subject_a, subject_b):
    """study.access.visible_subject, the API's compiled subject lookup: the subject at one's own
    site with its site joined, nothing at another site, after the membership ended, for an
    inactive user, or for an id out of the column's range (the ORM answers no row; not a 500)."""
    from study.access import subjects_visible_to, visible_subject

    coordinator = users_a["coordinator"]
    found = visible_subject(coordinator, subject_a.pk)
    assert found == subject_a and found.site.code == "01"
    assert visible_subject(coordinator, subject_b.pk) is None
    assert visible_subject(coordinator, 10**20) is None
    assert not subjects_visible_to(coordinator).filter(pk=10**20).exists()
    Membership.objects.filter(user=coordinator).update(ended_at=timezone.now())
    assert visible_subject(coordinator, subject_a.pk) is None
    Membership.objects.filter(user=coordinator).update(ended_at=None)
    coordinator.is_active = False
    assert visible_subject(coordinator, subject_a.pk) is None
