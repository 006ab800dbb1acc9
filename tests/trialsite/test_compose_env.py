"""docker-compose.yml with `.env.example` as shipped (issue 20 §4). Docker is not installed on
these machines, so the web container's settings are built in a child process from
`.env.example` exactly as compose reads it, plus dummy secrets, with DATABASE_URL and REDIS_URL
pointing at this run's services (compose points them at its `db` and `redis`). Through Django's
test client: `/health/` with the healthcheck's own Host header (trialsite/healthcheck.py), and the
sign-in page as the host's browser reaches it at http://localhost:8000/ — no 400 for the Host,
no 301 to HTTPS, cookies usable over plain HTTP. The compose file's own wiring is checked by
`.ci/check_compose.py`, which this test runs too."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import yaml

from tests.conftest import PROJECT_DIR

pytestmark = [pytest.mark.req("ISSUE-20"), pytest.mark.timeout(180)]

DROP = ("PYTEST_", "DJANGO_", "SECURE_", "DATABASE_", "REDIS_", "CELERY_", "EMAIL_", "STATIC_", "DB_")


def read_env_file(path) -> dict[str, str]:
    """KEY=VALUE lines as docker compose reads an env_file: `#` lines skipped, an unquoted value
    ends before ` #`, quotes stripped."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        quoted = value[:1] in {'"', "'"}
        values[key.strip()] = value[1 : value.index(value[0], 1)] if quoted else value.split(" #", 1)[0].strip()
    return values


def test_env_example_lists_the_email_settings_and_plain_local_http():
    env = read_env_file(PROJECT_DIR / ".env.example")
    for key in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS"):
        assert key in env
    assert env["DEFAULT_FROM_EMAIL"] == "trialsite@example.org"
    assert env["DJANGO_ALLOWED_HOSTS"] == "localhost,127.0.0.1"
    assert (env["SECURE_SSL_REDIRECT"], env["SECURE_COOKIES"]) == ("0", "0")


def environment_names_read_by_settings() -> set[str]:
    """Every variable trialsite/settings.py reads: `env.<cast>("NAME", …)` and `env("NAME")`."""
    import ast

    tree = ast.parse((PROJECT_DIR / "trialsite" / "settings.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        func = node.func
        reads_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
        )
        if reads_env and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
    return names


def test_every_variable_settings_read_is_in_env_example():
    """STYLE habit 9 (settings.py's docstring): every variable is documented in `.env.example`,
    set there or shown commented out with its meaning."""
    listed = set(read_env_file(PROJECT_DIR / ".env.example"))
    text = (PROJECT_DIR / ".env.example").read_text(encoding="utf-8")
    shown = {name for name in environment_names_read_by_settings() if f"{name}=" in text}
    read = environment_names_read_by_settings()
    assert len(read) == 44
    assert {"JOB_HEARTBEAT_SECONDS", "JOB_HEARTBEAT_TIMEOUT_SECONDS", "JOB_RECOVERY_INTERVAL_SECONDS"} <= listed
    assert sorted(read - shown) == []


def test_compose_structure_check_passes():
    result = subprocess.run(
        [sys.executable, ".ci/check_compose.py"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "docker-compose.yml: structure OK"


CHILD = """
import json, os, django
django.setup()
from django.conf import settings
from django.test import Client
from trialsite.healthcheck import host_header

probe = Client(HTTP_HOST=host_header(os.environ))
health = probe.get("/health/")
browser = Client(enforce_csrf_checks=True, HTTP_HOST="localhost:8000")
home = browser.get("/")
page = browser.get("/accounts/login/")
cookie = page.cookies["csrftoken"]
post = browser.post(
    "/accounts/login/",
    {"username": "nobody", "password": "wrong-password-123", "csrfmiddlewaretoken": cookie.value},
)
print(json.dumps({
    "host": host_header(os.environ),
    "health": [health.status_code, health.json()],
    "home": [home.status_code, home.get("Location")],
    "login": page.status_code,
    "csrf_secure": bool(cookie["secure"]),
    "post": post.status_code,
    "post_form_again": 'name="csrfmiddlewaretoken"' in post.content.decode(),
    "email": [settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, settings.DEFAULT_FROM_EMAIL],
}))
"""


def test_health_and_sign_in_page_answer_with_env_example_as_shipped(transactional_db, db_app_role):
    from django.db import connection

    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["web"]["healthcheck"]["test"] == ["CMD", "python", "-m", "trialsite.healthcheck"]

    env = {k: v for k, v in os.environ.items() if not k.startswith(DROP)}
    env.update(read_env_file(PROJECT_DIR / ".env.example"))
    # the secrets a user sets, as dummies
    env.update(DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DB_PASSWORD="owner-secret", DB_APP_PASSWORD="app-secret")
    # compose's `environment:` points at its db/redis services; here, this run's services, as the
    # application role the web container uses
    parts = urlsplit(os.environ["DATABASE_URL"])
    password = os.environ.get("DB_APP_PASSWORD", "")
    netloc = f"{db_app_role}:{quote(password)}@" if password else f"{db_app_role}@"
    netloc += parts.netloc.rsplit("@", 1)[-1]
    env["DATABASE_URL"] = urlunsplit((parts.scheme, netloc, "/" + connection.settings_dict["NAME"], parts.query, ""))
    env["REDIS_URL"] = os.environ["REDIS_URL"]
    # The image runs collectstatic when it is built (docker-compose.yml); this checkout has no
    # manifest, so the child serves static names unhashed. Nothing else departs from the file.
    env["STATIC_MANIFEST"] = "0"
    env["PYTHONPATH"] = str(PROJECT_DIR)
    env["DJANGO_SETTINGS_MODULE"] = "trialsite.settings"

    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=150
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["host"] == "localhost"
    # the view's JSON, not a 400 (Host refused) or a 301 (to HTTPS); no worker need run here, so
    # the status follows the worker check
    status, body = seen["health"]
    assert body["checks"]["database"] == "up"
    assert body["checks"]["redis"] == "up"
    assert status == (200 if body["checks"]["worker"] == "up" else 503)
    assert seen["home"] == [302, "/accounts/login/?next=/"]
    assert seen["login"] == 200
    assert seen["csrf_secure"] is False
    assert seen["post"] == 200  # a wrong password shows the form again; a CSRF failure would be 403
    assert seen["post_form_again"] is True
    assert seen["email"] == ["smtp.example.org", 587, True, "trialsite@example.org"]
