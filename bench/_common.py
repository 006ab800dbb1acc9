"""Shared set-up of the benchmark scripts: Django with production-like settings (DEBUG off, so
no query log grows in memory) against a benchmark database of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_ENV = {
    "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "STATIC_MANIFEST": "0",
    "LOG_LEVEL": "WARNING",
}


def database_url(name: str) -> str:
    """DATABASE_URL with its database name replaced by `name`."""
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trialsite"))
    return urlunsplit(base._replace(path=f"/{name}"))


def child_env(database: str) -> dict[str, str]:
    env = {**os.environ, **{k: v for k, v in BENCH_ENV.items() if k not in os.environ}}
    env["DATABASE_URL"] = database_url(database)
    env.pop("DJANGO_DEBUG", None)
    return env


def setup_django() -> None:
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.pop("DJANGO_DEBUG", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def manage(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=child_env(database),
        check=True,
        text=True,
        capture_output=True,
    )


def ensure_database(database: str) -> None:
    """Create the database when missing and bring its schema up to date."""
    import psycopg2

    conn = psycopg2.connect(database_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{database}"')
    conn.close()
    manage(database, "migrate", "--verbosity", "0")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def has_study(database: str, study: str) -> bool:
    import psycopg2

    conn = psycopg2.connect(database_url(database))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM study_study WHERE code = %s", [study])
            return cursor.fetchone() is not None
    finally:
        conn.close()


def signed_in_client(user):  # type: ignore[no-untyped-def]
    """A test Client signed in through the real sign-in page (the session carries its login
    stamp), the user given a throw-away password first. Django must be set up."""
    import secrets

    from django.test import Client

    password = secrets.token_urlsafe(16)
    user.set_password(password)
    user.save(update_fields=["password"])
    client = Client()
    signed_in = client.post("/accounts/login/", {"username": user.username, "password": password})
    assert signed_in.status_code == 302, signed_in.content[:300]
    return client
