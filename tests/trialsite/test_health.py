"""`/health/` against real services: a private Redis on a free port and a real Celery worker
subprocess (ISSUE-2 §5). The shared Redis on 6379 is never touched."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from django.test import override_settings

from tests.conftest import PROJECT_DIR, VENV_BIN, stop_process, subprocess_env

pytestmark = [pytest.mark.req("ISSUE-2"), pytest.mark.timeout(150)]


def health(client):  # type: ignore[no-untyped-def]
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def start_worker(redis_url: str, log: Path) -> subprocess.Popen:
    """A real worker; its log (INFO, so it says "ready.") goes to `log`."""
    return subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "trialsite",
            "worker",
            "--pool",
            "solo",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "-n",
            "health-test@%h",
            "--loglevel",
            "INFO",
        ],
        cwd=PROJECT_DIR,
        env=subprocess_env(REDIS_URL=redis_url),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait_until_ready(worker: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until the worker says it is ready (starting Celery takes over 20 s on a busy machine)."""
    deadline = time.monotonic() + timeout
    while " ready." not in log.read_text(errors="replace"):
        assert worker.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"the worker was not ready after {timeout} s"
        time.sleep(0.1)


@pytest.mark.slow  # a fault proof: Redis stopped (second tier)
def test_health_up_with_worker_and_down_without_redis(client, db, private_redis, tmp_path):
    url = str(private_redis["url"])
    with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url):
        # Redis up, no worker yet: not healthy.
        status, body = health(client)
        assert status == 503
        assert body["checks"] == {"database": "up", "redis": "up", "worker": "down"}

        log = tmp_path / "worker.log"
        worker = start_worker(url, log)
        try:
            wait_until_ready(worker, log)
            deadline = time.monotonic() + 20
            while True:
                status, body = health(client)
                if status == 200 or time.monotonic() > deadline or worker.poll() is not None:
                    break
            assert status == 200, body
            assert body == {
                "status": "ok",
                "checks": {"database": "up", "redis": "up", "worker": "up"},
                "audit_chain": None,  # never verified in this test (issue 21)
            }

            stop_process(private_redis["process"])  # type: ignore[arg-type]
            status, body = health(client)
            assert status == 503
            assert body == {
                "status": "degraded",
                "checks": {"database": "up", "redis": "down", "worker": "down"},
                "audit_chain": None,
            }
        finally:
            stop_process(worker, timeout=3)


def test_health_needs_no_session_or_login(client, db, private_redis):
    url = str(private_redis["url"])
    with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url):
        response = client.get("/health/")
    assert "sessionid" not in response.cookies
    assert response["Cache-Control"].startswith("max-age=0")
