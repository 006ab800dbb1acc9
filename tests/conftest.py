"""Shared fixtures: a study with two sites and one user per role at each (DESIGN §4a), a second
study with its own administrator, real API tokens, free ports and private servers for the
fault tests (never the shared Redis on 6379)."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from django.utils import timezone

from study.models import Membership, Site, Study, User
from study.roles import Role
from subjects.models import Subject

PASSWORD = "Correct-Horse-Battery-9"
PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 costs ~0.3 s a hash by design; tests create many users. Production keeps PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def default_language_after_each_test():
    """A request through the test client activates the user's language in this thread and
    Django leaves it active after the response; reset it so a later test's service messages
    are not in the previous test's language."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def empty_cache_after_each_test():
    """The process-local cache (a monitor's My tasks count, the DLT monitor) keyed by primary
    keys that a later test's fresh rows may reuse: emptied after each test."""
    yield
    from django.core.cache import cache

    cache.clear()


#: the day the shared demo study is loaded "as of" (its courses are deterministic for a given day)
DEMO_TODAY = date(2026, 11, 25)


def load_demo_study() -> int:
    """The demo study with its accounts and its 24 subjects as of DEMO_TODAY, through the services
    (~2,500 form saves); returns how many subjects it wrote."""
    from django.core.management import call_command

    from demo.courses import load_demo_subjects

    call_command("load_demo_study", "--with-demo-accounts", "--no-subjects", stdout=io.StringIO())
    site = Site.objects.get(code="01")
    coordinator = User.objects.get(username="coordinator")
    started = time.perf_counter()
    written = load_demo_subjects(site=site, user=coordinator, today=DEMO_TODAY)
    print(f"demo subjects loaded in {time.perf_counter() - started:.1f} s")
    return written


@contextmanager
def restored_demo_study(owner: tuple[str, str]) -> Iterator[tuple[Site, User, int] | None]:
    """The demo study committed in the test database from the run's one load (tests/datacache.py),
    emptied again afterwards; None when this database cannot restore a copy."""
    from tests import datacache

    manifest = datacache.restore_or_load("demo_study", load_demo_study, owner=owner, spec=f"today={DEMO_TODAY}")
    if manifest is None:
        yield None
        return
    try:
        yield Site.objects.get(code="01"), User.objects.get(username="coordinator"), manifest.result
    finally:
        datacache.remove(manifest, owner)


@pytest.fixture(scope="session")
def demo_study(django_db_setup, django_db_blocker, db_owner):
    """The demo study with its accounts and 24 subjects as of DEMO_TODAY, for every read-mostly
    test that needs it (ask for `db` too: each test in its own transaction). Loaded through the
    services ONCE per run (~2,500 form saves, a minute or more) by the first worker to need it,
    and restored from that load's data-only copy in each worker (tests/datacache.py), committed
    for the rest of the session and emptied at its end. Tests using it run last
    (pytest_collection_modifyitems below), so no other test sees it. Where no copy can be restored
    (the owner is not a superuser) it is loaded inside a transaction rolled back at the end of the
    session, each test in its own savepoint. Returns (site, coordinator, written)."""
    from django.db import transaction

    from tests import datacache

    with django_db_blocker.unblock(), restored_demo_study(db_owner) as restored:
        if restored is not None:
            yield restored
            return
        outer = transaction.atomic()
        outer.__enter__()
        try:
            written = load_demo_study()
            datacache.RESTORED["demo_study"] = datacache.describe_loaded(written)
            yield Site.objects.get(code="01"), User.objects.get(username="coordinator"), written
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo_study_committed(transactional_db, db_owner):
    """The demo study of `demo_study` (as of DEMO_TODAY, from the run's one load) committed for a
    test whose live server reads it from its own connection; the transactional reset empties it.
    Returns (site, coordinator, written)."""
    with restored_demo_study(db_owner) as restored:
        if restored is None:  # no copy can be restored here: through the services, committed
            written = load_demo_study()
            restored = Site.objects.get(code="01"), User.objects.get(username="coordinator"), written
        yield restored


#: what a test on the demo study may take: the first one in each process waits for the run's one
#: load (~2,500 form saves; many minutes on a loaded machine) or restores it
DEMO_TIMEOUT = 2400


def pytest_collection_modifyitems(config, items):
    """Tests on the shared demo study last, in their collected order (see `demo_study`); every test
    that may be the first to need the demo study is given the time to load it. This runs after
    pytest-django's reordering (its hook is `tryfirst`), so the demo tests stay last: a later
    test's worker must not find the committed demo study (its outbox, its alerts). The tiers'
    marks are given before `-m` deselects, by the root conftest.py."""
    items.sort(key=lambda item: "demo_study" in getattr(item, "fixturenames", ()))
    for item in items:
        if {"demo_study", "demo_study_committed"} & set(getattr(item, "fixturenames", ())):
            marker = item.get_closest_marker("timeout")
            if marker is None or not marker.args or marker.args[0] < DEMO_TIMEOUT:
                item.add_marker(pytest.mark.timeout(DEMO_TIMEOUT), append=False)


@pytest.fixture
def study(db):
    return Study.objects.create(code="test-study", title="Test study", registry_id="NCT00000000", phase="I")


@pytest.fixture
def site_a(study):
    return Site.objects.create(study=study, code="01", name="Site A", subject_prefix="A", default_language="en")


@pytest.fixture
def site_b(study):
    return Site.objects.create(study=study, code="02", name="Site B", subject_prefix="B", default_language="zh-hans")


def make_user(username: str, *, site: Site | None = None, role: str | None = None, **extra) -> User:
    user = User(username=username, email=f"{username}@example.org", **extra)
    user.set_password(PASSWORD)
    user.save()
    if site is not None and role is not None:
        Membership.objects.create(user=user, site=site, role=role, granted_at=timezone.now())
    return user


@pytest.fixture
def users_a(site_a):
    """One user per role at site A, keyed by role value."""
    return {role.value: make_user(f"{role.value}_a", site=site_a, role=role.value) for role in Role}


@pytest.fixture
def subject_a(site_a):
    return Subject.objects.create(site=site_a, subject_id="A-001")


@pytest.fixture
def subject_b(site_b):
    return Subject.objects.create(site=site_b, subject_id="B-001")


@pytest.fixture
def other_study(db):
    return Study.objects.create(code="other-study", title="Another study", registry_id="NCT99999999", phase="I")


@pytest.fixture
def other_site(other_study):
    return Site.objects.create(
        study=other_study, code="09", name="Other Site", subject_prefix="X", default_language="en"
    )


@pytest.fixture
def other_admin(other_site):
    """The study admin of another study: must not reach users of `study`."""
    return make_user("study_admin_other", site=other_site, role=Role.STUDY_ADMIN)


@pytest.fixture
def other_coordinator(other_site):
    return make_user("coordinator_other", site=other_site, role=Role.COORDINATOR)


@pytest.fixture
def login(client):
    """Log a user in through the real sign-in page, so the session carries its login stamp."""

    def _login(user: User, password: str = PASSWORD):
        response = client.post("/accounts/login/", {"username": user.username, "password": password})
        assert response.status_code == 302, response.content[:500]
        return client

    return _login


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def api_token(client):
    """A real knox token from POST /api/v1/auth/login/ with HTTP Basic credentials."""

    def _token(user: User, password: str = PASSWORD) -> str:
        response = client.post("/api/v1/auth/login/", HTTP_AUTHORIZATION=basic_auth(user.username, password))
        assert response.status_code == 200, response.content[:500]
        return response.json()["token"]

    return _token


# --- real processes for fault tests ------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate one process we started (by its own handle), killing it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment for a child Django/Celery process: this run's settings plus overrides."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DJANGO_", "SECURE_", "DATABASE_", "REDIS_", "CELERY_"))
    }
    for key in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "SECURE_SSL_REDIRECT", "SECURE_COOKIES"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
    env["STATIC_MANIFEST"] = "0"
    env["PYTHONPATH"] = str(PROJECT_DIR)
    env.update(overrides)
    return env


@pytest.fixture
def private_redis(tmp_path) -> Iterator[dict[str, object]]:
    """A throw-away redis-server on a free port (never the shared one on 6379)."""
    from tests.crf.test_outbox import redis_server_binary

    server = redis_server_binary()
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    proc = subprocess.Popen(
        [server, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield {"port": port, "url": f"redis://127.0.0.1:{port}/0", "process": proc}
    finally:
        stop_process(proc)
