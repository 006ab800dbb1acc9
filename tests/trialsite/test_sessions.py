"""Idle timeout 30 minutes, absolute timeout 12 hours, a visible warning before expiry
(ISSUE-2 §3). The session's own stamps are moved into the past; no clock is mocked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from study.sessions import LAST_SEEN, LOGIN_AT

pytestmark = pytest.mark.req("ISSUE-2")

IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=12)
EXPIRED_MESSAGE = "Your session has expired. Please sign in again."


def set_stamps(client: Client, *, login_ago: timedelta, last_seen_ago: timedelta) -> None:
    now = timezone.now()
    session = client.session
    session[LOGIN_AT] = (now - login_ago).isoformat()
    session[LAST_SEEN] = (now - last_seen_ago).isoformat()
    session.save()


def assert_logged_out_with_message(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    assert "_auth_user_id" not in client.session
    login_page = client.get(response["Location"])
    assert login_page.status_code == 200
    assert EXPIRED_MESSAGE in login_page.content.decode()
    # Signed out for good: the next page asks for a login again, without the message.
    again = client.get(url)
    assert again.status_code == 302


def test_idle_timeout_logs_out(users_a, login):
    client = login(users_a["coordinator"])
    set_stamps(client, login_ago=IDLE_LIMIT + timedelta(minutes=5), last_seen_ago=IDLE_LIMIT + timedelta(seconds=5))
    assert_logged_out_with_message(client, "/subjects/")


def test_absolute_timeout_logs_out_even_when_active(users_a, login):
    client = login(users_a["coordinator"])
    set_stamps(client, login_ago=ABSOLUTE_LIMIT + timedelta(seconds=5), last_seen_ago=timedelta(seconds=10))
    assert_logged_out_with_message(client, "/")


def test_inside_limits_keeps_session_and_renews_last_seen(users_a, login):
    client = login(users_a["coordinator"])
    set_stamps(client, login_ago=ABSOLUTE_LIMIT - timedelta(minutes=1), last_seen_ago=IDLE_LIMIT - timedelta(minutes=1))
    before = timezone.now()
    response = client.get("/subjects/")
    assert response.status_code == 200
    from datetime import datetime

    last_seen = datetime.fromisoformat(client.session[LAST_SEEN])
    assert last_seen >= before
    # The renewed stamp means 29 more minutes of quiet are fine.
    assert client.get("/").status_code == 200


def test_expired_session_on_api_is_refused(users_a, subject_a, login):
    client = login(users_a["coordinator"])
    set_stamps(client, login_ago=timedelta(hours=1), last_seen_ago=IDLE_LIMIT + timedelta(minutes=1))
    response = client.get("/api/v1/subjects/")
    assert response.status_code in (401, 403)
    assert "A-001" not in response.content.decode()


def test_session_without_login_stamp_is_refused(users_a, client):
    """A session created without the sign-in page (no login stamp) is not trusted."""
    client.force_login(users_a["coordinator"])
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_expiry_warning_is_on_pages(users_a, login):
    client = login(users_a["coordinator"])
    body = client.get("/").content.decode()
    warning = re.search(r'<div id="session-warning"[^>]*>', body, re.S)
    assert warning is not None
    assert 'data-idle-timeout="1800"' in warning.group(0)
    assert 'data-keepalive-url="/session/keepalive/"' in warning.group(0)
    assert "Stay signed in" in body


def test_keepalive_returns_204_and_renews(users_a, login):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/",
        {"username": "coordinator_a", "password": "Correct-Horse-Battery-9", "csrfmiddlewaretoken": token},
    )
    assert page.status_code == 200
    assert response.status_code == 302
    set_stamps(client, login_ago=timedelta(hours=1), last_seen_ago=IDLE_LIMIT - timedelta(minutes=1))
    home = client.get("/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home).group(1)
    set_stamps(client, login_ago=timedelta(hours=1), last_seen_ago=IDLE_LIMIT - timedelta(seconds=30))
    response = client.post("/session/keepalive/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 204
    from datetime import datetime

    assert timezone.now() - datetime.fromisoformat(client.session[LAST_SEEN]) < timedelta(seconds=5)


def test_keepalive_needs_a_session(client, db):
    response = client.post("/session/keepalive/")
    assert response.status_code == 302


@pytest.mark.req("ISSUE-2")
def test_status_reports_both_limits_and_is_not_activity(users_a, login, client):
    from datetime import timedelta

    from django.utils import timezone

    login(users_a["coordinator"])
    session = client.session
    long_ago = timezone.now() - timedelta(minutes=20)
    session["trialsite_last_seen"] = long_ago.isoformat()
    session["trialsite_login_at"] = (timezone.now() - timedelta(hours=11, minutes=59)).isoformat()
    session.save()
    first = client.get("/session/status/").json()
    assert 590 <= first["idle"] <= 600  # 30 min − 20 min
    assert 50 <= first["absolute"] <= 60  # 12 h − 11 h 59 min
    second = client.get("/session/status/").json()
    assert second["idle"] <= first["idle"]  # polling did not renew the idle timer


@pytest.mark.req("ISSUE-2")
def test_pages_carry_the_absolute_limit_for_the_warning(users_a, login, client):
    login(users_a["coordinator"])
    import re

    page = client.get("/").content.decode()
    left = int(re.search(r'data-absolute-remaining="(\d+)"', page).group(1))
    assert 43100 <= left <= 43200  # just under 12 h left right after login
    assert 'data-status-url="/session/status/"' in page
