"""Safe production settings (ISSUE-2 §7): `check --deploy` clean with a production-like
environment, DEBUG off by default, secrets only from the environment, CSP, secure cookies.
Settings are loaded in child processes with a clean environment, since this run's own
environment deliberately relaxes cookies and the HTTPS redirect."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR, subprocess_env

pytestmark = [pytest.mark.req("ISSUE-2"), pytest.mark.timeout(120)]


def production_env(**overrides: str) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env = subprocess_env(
        DJANGO_SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(64)),
        DJANGO_ALLOWED_HOSTS="edc.example.org",
        DATABASE_URL="postgres://trialsite_app:pw@db.example.org:5432/trialsite",
        REDIS_URL="redis://redis.example.org:6379/0",
    )
    for key in ("DJANGO_DEBUG", "SECURE_SSL_REDIRECT", "SECURE_COOKIES", "STATIC_MANIFEST"):
        env.pop(key, None)
    env.update(overrides)
    return env


def settings_of(env: dict[str, str], *names: str) -> dict[str, object]:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "trialsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_a_production_environment():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_and_cookies_secure_by_default():
    values = settings_of(
        production_env(),
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
    )
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }


def test_settings_refuse_to_load_without_a_secret_key():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=PROJECT_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "trialsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_session_timeouts_default_to_30_minutes_and_12_hours():
    values = settings_of(production_env(), "SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_TIMEOUT", "AXES_FAILURE_LIMIT")
    assert values == {"SESSION_IDLE_TIMEOUT": 1800, "SESSION_ABSOLUTE_TIMEOUT": 43200, "AXES_FAILURE_LIMIT": 5}


def test_pages_carry_a_content_security_policy(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_local_folder_holds_the_audit_heads_and_media_unless_each_is_named(tmp_path):
    """TRIALSITE_LOCAL_DIR moves everything the checkout keeps locally (the embedded servers'
    data, the audit chain heads, uploaded media); AUDIT_HEADS_DIR and MEDIA_ROOT still win."""
    env = production_env(TRIALSITE_LOCAL_DIR=str(tmp_path))
    assert settings_of(env, "LOCAL_DIR", "AUDIT_HEADS_DIR", "MEDIA_ROOT") == {
        "LOCAL_DIR": str(tmp_path),
        "AUDIT_HEADS_DIR": str(tmp_path / "audit-heads"),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    named = settings_of(
        {**env, "AUDIT_HEADS_DIR": "/srv/heads", "MEDIA_ROOT": "/srv/media"}, "AUDIT_HEADS_DIR", "MEDIA_ROOT"
    )
    assert named == {"AUDIT_HEADS_DIR": "/srv/heads", "MEDIA_ROOT": "/srv/media"}
