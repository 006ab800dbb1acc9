"""Lockout after repeated failed logins, by username and IP address, lifted only by a study
admin (ISSUE-2 §3). Real axes records in PostgreSQL; nothing mocked."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client

from study.models import AccountEvent
from tests.conftest import PASSWORD, basic_auth

pytestmark = pytest.mark.req("ISSUE-2")

FAILURE_LIMIT = 5
LOCKED_TEXT = "Too many failed sign-in attempts"


def page_login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def token_login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login/", HTTP_AUTHORIZATION=basic_auth(username, password), REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        response = page_login(client, username, "wrong-password", ip)
        assert "_auth_user_id" not in client.session
        assert response.status_code in (200, 403, 429)


def test_four_failures_do_not_lock(users_a, client):
    fail(client, "coordinator_a", FAILURE_LIMIT - 1)
    response = page_login(client, "coordinator_a", PASSWORD)
    assert response.status_code == 302
    # A success resets the count.
    assert not AccessAttempt.objects.filter(username="coordinator_a", failures_since_start__gt=0).exists()


def test_five_failures_lock_even_the_right_password(users_a, client):
    fail(client, "coordinator_a", FAILURE_LIMIT)
    response = page_login(client, "coordinator_a", PASSWORD)
    assert response.status_code in (403, 429)
    assert LOCKED_TEXT in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The token API honours the same lockout.
    assert token_login(Client(), "coordinator_a", PASSWORD).status_code in (401, 403, 429)


def test_lock_is_per_username_and_address(users_a, client):
    fail(client, "coordinator_a", FAILURE_LIMIT)
    assert page_login(Client(), "coordinator_a", PASSWORD, ip="10.0.0.2").status_code == 302
    assert page_login(Client(), "investigator_a", PASSWORD, ip="10.0.0.1").status_code == 302


def test_admin_sees_locked_out_and_unlocks(users_a, login):
    victim = users_a["coordinator"]
    fail(Client(), victim.username, FAILURE_LIMIT)
    assert page_login(Client(), victim.username, PASSWORD).status_code in (403, 429)

    admin = login(users_a["study_admin"])
    assert "Locked out" in admin.get("/admin/users/").content.decode()
    detail = admin.get(f"/admin/users/{victim.pk}/").content.decode()
    assert "Locked out" in detail
    assert f'action="/admin/users/{victim.pk}/unlock/"' in detail

    response = admin.post(f"/admin/users/{victim.pk}/unlock/")
    assert response.status_code == 302
    assert AccountEvent.objects.filter(user=victim, kind="unlocked", actor=users_a["study_admin"]).exists()
    assert "Locked out" not in admin.get(f"/admin/users/{victim.pk}/").content.decode()

    assert page_login(Client(), victim.username, PASSWORD).status_code == 302


def test_only_a_study_admin_unlocks(users_a, other_admin, login):
    victim = users_a["coordinator"]
    fail(Client(), victim.username, FAILURE_LIMIT)
    assert login(users_a["investigator"]).post(f"/admin/users/{victim.pk}/unlock/").status_code == 403
    other = Client()
    other.post("/accounts/login/", {"username": other_admin.username, "password": PASSWORD})
    assert other.post(f"/admin/users/{victim.pk}/unlock/").status_code == 404
    assert page_login(Client(), victim.username, PASSWORD).status_code in (403, 429)


def test_token_login_failures_count(users_a):
    api = Client()
    for _ in range(FAILURE_LIMIT):
        assert token_login(api, "monitor_a", "wrong-password").status_code in (401, 403, 429)
    assert AccessAttempt.objects.get(username="monitor_a", ip_address="10.0.0.1").failures_since_start == FAILURE_LIMIT
    # Locked for the API and for the sign-in page alike, even with the right password.
    assert token_login(api, "monitor_a", PASSWORD).status_code in (401, 403, 429)
    response = page_login(Client(), "monitor_a", PASSWORD)
    assert response.status_code in (403, 429)
    assert LOCKED_TEXT in response.content.decode()
    # Another address is not locked.
    assert token_login(Client(), "monitor_a", PASSWORD, ip="10.0.0.9").status_code == 200


def test_token_login_failures_are_committed(transactional_db, users_a):
    """As in production, with no test transaction around the request: DRF's rollback on the
    401 must not take the failure record with it."""
    for _ in range(FAILURE_LIMIT):
        token_login(Client(), "investigator_a", "wrong-password", ip="10.0.0.7")
    assert AccessAttempt.objects.get(username="investigator_a").failures_since_start == FAILURE_LIMIT
    assert token_login(Client(), "investigator_a", PASSWORD, ip="10.0.0.7").status_code == 401
