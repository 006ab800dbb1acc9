"""API tokens (DESIGN §6): stored hashed, expiring, revocable by their owner and by a study admin
(audited as AccountEvents); session auth also works, with CSRF on writes."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from study.models import AccountEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.req("ISSUE-6")


def _signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    """A browser of its own, signed in through the real page, that enforces CSRF like a browser."""
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 302
    return client


def _create_on_page(client) -> str:  # type: ignore[no-untyped-def]
    page = client.post("/account/api-tokens/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    body = page.content.decode()
    start = body.index('id="new-token" value="') + len('id="new-token" value="')
    return body[start : body.index('"', start)]


@pytest.mark.req("DESIGN-6")
def test_token_page_creates_shows_once_stores_hashed_and_expires_in_30_days(coordinator, login, subject_a):
    client = login(coordinator)
    plain = _create_on_page(client)
    assert len(plain) == 64
    stored = AuthToken.objects.get(user=coordinator)
    assert stored.digest == hashlib.sha512(plain.encode()).hexdigest()
    assert plain not in {stored.digest, stored.token_key}
    assert timedelta(days=29, hours=23) < stored.expiry - timezone.now() <= timedelta(days=30)
    assert settings.API_TOKEN_TTL_DAYS == 30
    listing = client.get("/account/api-tokens/").content.decode()
    assert stored.token_key in listing
    assert plain not in listing  # shown once
    api = Client(HTTP_AUTHORIZATION=f"Token {plain}")
    assert api.get("/api/v1/subjects/").status_code == 200
    assert list(AccountEvent.objects.filter(user=coordinator).values_list("kind", "actor")) == [
        ("api_token_created", coordinator.pk)
    ]


@pytest.mark.req("DESIGN-6")
def test_expired_token_is_refused(coordinator, subject_a):
    """Time travel on the token itself: its stored expiry moves into the past."""
    _token, plain = AuthToken.objects.create(user=coordinator)
    api = Client(HTTP_AUTHORIZATION=f"Token {plain}")
    assert api.get("/api/v1/subjects/").status_code == 200
    AuthToken.objects.filter(user=coordinator).update(expiry=timezone.now() - timedelta(seconds=1))
    assert api.get("/api/v1/subjects/").status_code == 401


@pytest.mark.req("DESIGN-6")
def test_owner_revokes_a_token_on_the_page(coordinator, login, subject_a):
    client = login(coordinator)
    keep, revoke = _create_on_page(client), _create_on_page(client)
    key = AuthToken.objects.get(digest=hashlib.sha512(revoke.encode()).hexdigest()).token_key
    assert client.post(f"/account/api-tokens/{key}/revoke/").status_code == 302
    assert Client(HTTP_AUTHORIZATION=f"Token {revoke}").get("/api/v1/subjects/").status_code == 401
    assert Client(HTTP_AUTHORIZATION=f"Token {keep}").get("/api/v1/subjects/").status_code == 200
    assert AccountEvent.objects.filter(user=coordinator, kind="api_token_revoked", detail=key).exists()


def test_nobody_revokes_another_users_token_on_the_token_page(coordinator, users_a, login):
    token, _plain = AuthToken.objects.create(user=coordinator)
    other = login(users_a["investigator"])
    assert other.post(f"/account/api-tokens/{token.token_key}/revoke/").status_code == 404
    assert AuthToken.objects.filter(user=coordinator).count() == 1


@pytest.mark.req("DESIGN-6")
def test_study_admin_revokes_all_of_a_users_tokens(coordinator, users_a, login, other_admin, subject_a):
    _t1, one = AuthToken.objects.create(user=coordinator)
    _t2, two = AuthToken.objects.create(user=coordinator)
    outsider = _signed_in(other_admin)
    assert (
        outsider.post(
            f"/admin/users/{coordinator.pk}/revoke-api-tokens/",
            {"reason": "x", "csrfmiddlewaretoken": outsider.cookies["csrftoken"].value},
        ).status_code
        == 404
    )
    admin = login(users_a["study_admin"])
    page = admin.get(f"/admin/users/{coordinator.pk}/").content.decode()
    assert "2 live API tokens." in page
    response = admin.post(f"/admin/users/{coordinator.pk}/revoke-api-tokens/", {"reason": "laptop lost"})
    assert response.status_code == 302
    for plain in (one, two):
        assert Client(HTTP_AUTHORIZATION=f"Token {plain}").get("/api/v1/subjects/").status_code == 401
    event = AccountEvent.objects.get(user=coordinator, kind="api_tokens_revoked")
    assert event.actor == users_a["study_admin"]
    assert event.detail == "2: laptop lost"


def test_session_auth_needs_csrf_on_writes(coordinator, subject_a):
    client = _signed_in(coordinator)
    assert client.get("/api/v1/subjects/").status_code == 200
    response = client.post(
        "/api/v1/subjects/",
        {"site": "01", "consent_version": "1", "consent_date": "2026-03-01"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_tokens_from_the_login_endpoint_are_audited_and_logout_revokes(coordinator, api_token, subject_a):
    first, second = api_token(coordinator), api_token(coordinator)
    kinds = lambda: list(AccountEvent.objects.filter(user=coordinator).values_list("kind", flat=True))  # noqa: E731
    assert kinds() == ["api_token_created", "api_token_created"]
    assert Client(HTTP_AUTHORIZATION=f"Token {first}").post("/api/v1/auth/logout/").status_code == 204
    assert Client(HTTP_AUTHORIZATION=f"Token {first}").get("/api/v1/subjects/").status_code == 401
    assert Client(HTTP_AUTHORIZATION=f"Token {second}").get("/api/v1/subjects/").status_code == 200
    assert kinds()[0] == "api_token_revoked"
    assert Client(HTTP_AUTHORIZATION=f"Token {second}").post("/api/v1/auth/logoutall/").status_code == 204
    assert Client(HTTP_AUTHORIZATION=f"Token {second}").get("/api/v1/subjects/").status_code == 401
    assert kinds()[0] == "api_tokens_revoked"
    assert AccountEvent.objects.filter(user=coordinator, kind="api_tokens_revoked").get().detail == "1"


def _token_reads(plain: str) -> tuple[int, list[str]]:
    """One authenticated GET: its status and the statements that touched the token table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        status = Client(HTTP_AUTHORIZATION=f"Token {plain}").get("/api/v1/subjects/").status_code
    return status, [q["sql"] for q in ctx.captured_queries if "knox_authtoken" in q["sql"]]


@pytest.mark.req("ISSUE-22")
def test_token_auth_reads_one_token_row_however_many_the_user_holds(coordinator, subject_a):
    """Issue 22: knox's own cleanup read every token of the user on each request (and deleted
    the expired ones one by one); a request now reads the presented token's row only."""
    _token, plain = AuthToken.objects.create(user=coordinator)
    status, reads = _token_reads(plain)
    assert status == 200
    assert len(reads) == 1
    assert "token_key" in reads[0]
    for _ in range(40):
        AuthToken.objects.create(user=coordinator)
    for _ in range(5):  # expired ones are not deleted by someone else's request
        AuthToken.objects.create(user=coordinator, expiry=timedelta(seconds=-1))
    status, reads = _token_reads(plain)
    assert status == 200
    assert len(reads) == 1
    assert AuthToken.objects.filter(user=coordinator).count() == 46


@pytest.mark.req("ISSUE-22")
def test_an_expired_token_is_refused_and_deleted_and_creating_a_token_deletes_the_expired(coordinator, subject_a):
    from study.services import create_api_token

    _expired, plain = AuthToken.objects.create(user=coordinator, expiry=timedelta(seconds=-1))
    AuthToken.objects.create(user=coordinator, expiry=timedelta(seconds=-1))
    live, _live_plain = AuthToken.objects.create(user=coordinator)
    status, reads = _token_reads(plain)
    assert status == 401
    # the presented token's row, then its delete (which goes with the 401's rollback)
    assert len(reads) == 2
    # a read of the token row: a SELECT, or the EXECUTE of the compiled one (the SQL as its comment,
    # dbtools.prepared; PREPAREd with it on the connection's first use)
    assert reads[0].startswith(("SELECT", "EXECUTE dbtools_", "PREPARE dbtools_")) and "token_key" in reads[0]
    assert 'SELECT "knox_authtoken"."digest"' in reads[0] and "DELETE" not in reads[0]
    assert 'DELETE FROM "knox_authtoken"' in reads[1]  # (after the audit context's prefix)
    create_api_token(user=coordinator)
    assert AuthToken.objects.filter(user=coordinator, expiry__lt=timezone.now()).count() == 0
    assert AuthToken.objects.filter(user=coordinator).count() == 2
    assert AuthToken.objects.filter(pk=live.pk).exists()
