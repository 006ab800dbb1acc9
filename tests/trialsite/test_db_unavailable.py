"""With PostgreSQL unreachable, pages and the API answer 503 with a clear message (JSON with
Retry-After for the API), never a bare 500 (ISSUE-2 §7). The app runs as a real gunicorn
process whose DATABASE_URL names a port where nothing listens."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import PROJECT_DIR, VENV_BIN, free_port, stop_process, subprocess_env, wait_for_port

pytestmark = [
    pytest.mark.req("ISSUE-2"),
    pytest.mark.timeout(60),
    pytest.mark.slow,
]  # fault proofs: the database unreachable (second tier)

MESSAGE = "The database is unavailable. Nothing was saved; please try again in a minute."


@pytest.fixture(scope="module")
def app_without_database() -> Iterator[int]:
    port = free_port()
    dead_db, dead_redis = free_port(), free_port()
    env = subprocess_env(
        DATABASE_URL=f"postgres://trialsite@127.0.0.1:{dead_db}/trialsite",
        REDIS_URL=f"redis://127.0.0.1:{dead_redis}/0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        DB_CONNECT_TIMEOUT="2",
    )
    env.pop("DJANGO_DEBUG", None)
    proc = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "trialsite.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "30"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, timeout=20)
        yield port
    finally:
        stop_process(proc)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"Accept-Language": "en", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/subjects/", "/admin/users/"])
def test_pages_answer_503_with_a_clear_message(app_without_database, path):
    status, headers, body = get(app_without_database, path)
    assert status == 503
    assert headers["content-type"].startswith("text/html")
    assert MESSAGE in body
    assert headers["retry-after"] == "30"


def test_page_with_a_session_cookie_answers_503(app_without_database):
    """The session lookup itself needs the database: it fails in middleware, still a 503."""
    status, _, body = get(app_without_database, "/subjects/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"})
    assert status == 503
    assert MESSAGE in body


@pytest.mark.parametrize("path", ["/api/v1/subjects/", "/api/v1/subjects/1/"])
def test_api_answers_503_json_with_retry_after(app_without_database, path):
    status, headers, body = get(app_without_database, path, {"Authorization": "Token " + "a" * 64})
    assert status == 503
    assert headers["content-type"] == "application/json"
    assert headers["retry-after"] == "30"
    assert json.loads(body) == {"detail": MESSAGE, "code": "database_unavailable"}


def test_health_reports_database_down(app_without_database):
    status, headers, body = get(app_without_database, "/health/")
    assert status == 503
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["checks"]["database"] == "down"
