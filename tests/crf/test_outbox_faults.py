"""Outbox fault proofs (ISSUE-3 "Done when", DESIGN §2), with real processes: a private
redis-server on a free port (never the shared one on 6379), the relay and a Celery worker as
subprocesses connected as the application role, and the test database committed for them.

- Redis down while a job is written: the running relay keeps retrying, then delivers it.
- The web process killed right after its commit: the relay delivers the committed job later.
- The relay killed between publish and mark-sent: it publishes again; the task runs once.
- A worker killed mid-task: the task is redelivered and its effect happens once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import OperationalError, transaction

from crf.management.commands.outbox_relay import CRASH_AFTER_PUBLISH_ENV, CRASH_EXIT_CODE
from crf.models import OutboxMessage
from tests.conftest import PROJECT_DIR, VENV_BIN, free_port, stop_process
from tests.crf.test_outbox import (
    child_env,
    commit_probe,
    execution_of,
    queued_messages,
    start_redis,
    start_relay,
    start_worker,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.req("ISSUE-3")]


class Stack:
    """One test's private Redis, relay and workers; everything it started is stopped at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.port}/0"
        self.redis: subprocess.Popen | None = None
        self.processes: list[subprocess.Popen] = []
        self.worker_log = tmp_path / "worker.log"
        self.relay_log = tmp_path / "relay.log"

    def env(self, **overrides: str) -> dict[str, str]:
        return child_env(self.redis_url, **overrides)

    def start_redis(self) -> None:
        self.redis = start_redis(self.port, self.tmp_path)

    def stop_redis(self) -> None:
        assert self.redis is not None
        stop_process(self.redis)
        self.redis = None

    def start_worker(self, **env: str) -> subprocess.Popen:
        node = f"faults-{self.port}-{len(self.processes)}@localhost"
        before = self.worker_log.read_text() if self.worker_log.exists() else ""
        worker = start_worker(self.env(**env), self.worker_log, node)
        self.processes.append(worker)
        wait_until(
            lambda: worker.poll() is not None or f"{node} ready." in self.worker_log.read_text()[len(before) :],
            timeout=60,
            what="the Celery worker to be ready",
        )
        assert worker.poll() is None, self.worker_log.read_text()
        return worker

    def start_relay(self, *args: str) -> subprocess.Popen:
        relay = start_relay(self.env(), self.relay_log, *args)
        self.processes.append(relay)
        return relay

    def start_beat(self, **env: str) -> subprocess.Popen:
        """`celery beat` (the periodic tasks, e.g. the jobs' stuck-job recovery), its schedule
        file in the test's directory."""
        beat = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "trialsite", "beat", "-l", "info", "-s", str(self.tmp_path / "beat")],
            cwd=PROJECT_DIR,
            env=self.env(**env),
            stdout=(self.tmp_path / "beat.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(beat)
        return beat

    def relay_once(self, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "outbox_relay", "--once"],
            cwd=PROJECT_DIR,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def close(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
                proc.wait(timeout=10)
        if self.redis is not None:
            stop_process(self.redis)


@pytest.fixture
def stack(transactional_db, tmp_path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def finished(message_id: int) -> bool:
    execution = execution_of(message_id)
    return execution is not None and execution.finished_at is not None


def running_now(message_id: int) -> bool:
    """A task is mid-run when a worker holds the lock on its outbox row (crf.outbox.run_once)."""
    try:
        with transaction.atomic():
            list(OutboxMessage.objects.select_for_update(nowait=True).filter(pk=message_id))
    except OperationalError:
        return True
    return False


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def pool_children(worker: subprocess.Popen) -> list[int]:
    text = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text()
    return [int(pid) for pid in text.split()]


def test_a_job_written_while_redis_is_down_is_delivered_when_it_comes_back(stack):
    stack.start_redis()
    relay = stack.start_relay("--poll-interval", "0.2", "--max-backoff", "1")
    worker = stack.start_worker()
    before = commit_probe(note="before the outage")
    wait_until(lambda: finished(before.pk), timeout=30, what="the first job to run")

    stack.stop_redis()
    during = commit_probe(note="written while Redis is down")
    wait_until(
        lambda: OutboxMessage.objects.get(pk=during.pk).attempts >= 3,
        timeout=30,
        what="the relay to retry the publish",
    )
    row = OutboxMessage.objects.get(pk=during.pk)
    assert row.sent_at is None
    assert "Error" in row.last_error
    assert relay.poll() is None, stack.relay_log.read_text()  # still running, not crashed

    stack.start_redis()  # empty: nothing of the outage survived in the broker
    wait_until(lambda: finished(during.pk), timeout=60, what="the job to be delivered after Redis came back")
    row = OutboxMessage.objects.get(pk=during.pk)
    assert row.sent_at is not None
    assert execution_of(during.pk).runs == 1
    assert execution_of(before.pk).runs == 1
    assert relay.poll() is None and worker.poll() is None

    relay.send_signal(signal.SIGTERM)
    assert relay.wait(timeout=15) == 0
    log = stack.relay_log.read_text()
    assert "(failure 3 in a row; retrying in" in log
    assert "outbox relay stopped" in log


WEB_PROCESS = """
import os, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
django.setup()
from django.db import transaction
from crf.outbox import enqueue
with transaction.atomic():
    message = enqueue(task_name="crf.tasks.record_delivery", note="web process killed")
print(message.pk, flush=True)  # committed; this process never publishes anything
time.sleep(600)
"""


def test_web_process_killed_between_commit_and_publish_the_relay_delivers_later(stack):
    web = subprocess.Popen(
        [sys.executable, "-c", WEB_PROCESS],
        cwd=PROJECT_DIR,
        env=stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stack.processes.append(web)
    line = web.stdout.readline()
    assert line.strip().isdigit(), web.stderr.read() if web.poll() is not None else line
    message_id = int(line)
    kill_group(web)
    assert web.returncode == -signal.SIGKILL

    row = OutboxMessage.objects.get(pk=message_id)
    assert (row.sent_at, row.attempts) == (None, 0)
    stack.start_redis()
    assert queued_messages(stack.redis_url) == []
    stack.start_worker()
    stack.start_relay("--poll-interval", "0.2")
    wait_until(lambda: finished(message_id), timeout=60, what="the committed job to be delivered")
    assert OutboxMessage.objects.get(pk=message_id).sent_at is not None
    assert execution_of(message_id).runs == 1


def test_relay_killed_between_publish_and_mark_sent_republishes_and_the_task_runs_once(stack):
    stack.start_redis()
    message = commit_probe(note="relay crash")

    crashed = stack.relay_once(**{CRASH_AFTER_PUBLISH_ENV: "1"})
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stdout + crashed.stderr
    row = OutboxMessage.objects.get(pk=message.pk)
    assert row.sent_at is None  # published, but the mark-sent never committed
    assert [m["id"] for m in queued_messages(stack.redis_url)] == [f"outbox-{message.pk}"]

    restarted = stack.relay_once()
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert OutboxMessage.objects.get(pk=message.pk).sent_at is not None
    assert [m["id"] for m in queued_messages(stack.redis_url)] == [f"outbox-{message.pk}"] * 2

    stack.start_worker()
    duplicate = f"outbox message {message.pk} (crf.tasks.record_delivery) already processed"
    wait_until(
        lambda: finished(message.pk) and duplicate in stack.worker_log.read_text(),
        timeout=60,
        what="both deliveries to reach the worker",
    )
    assert queued_messages(stack.redis_url) == []
    assert execution_of(message.pk).runs == 1  # delivered twice, effect once


def test_worker_process_killed_mid_task_the_task_is_redelivered_and_runs_once(stack):
    """reject_on_worker_lost: the pool process dies mid-task, the worker requeues the message."""
    stack.start_redis()
    worker = stack.start_worker()
    message = commit_probe(note="pool process killed", hold_seconds=2)
    assert stack.relay_once().returncode == 0
    wait_until(lambda: running_now(message.pk), timeout=30, what="the task to start")
    (child,) = pool_children(worker)
    os.kill(child, signal.SIGKILL)

    wait_until(lambda: finished(message.pk), timeout=60, what="the task to be redelivered and finish")
    assert execution_of(message.pk).runs == 1
    log = stack.worker_log.read_text()
    assert "WorkerLostError" in log or "signal 9" in log, log
    assert log.count(f"record_delivery[outbox-{message.pk}] received") == 2
    assert worker.poll() is None


def test_whole_worker_killed_mid_task_a_new_worker_runs_it_after_the_visibility_timeout(stack):
    """acks_late: the message stays unacknowledged in Redis; after the visibility timeout (short
    for this test only, still longer than the task time limit) the next worker restores it."""
    short = {"CELERY_TASK_TIME_LIMIT": "6", "CELERY_VISIBILITY_TIMEOUT": "8"}
    stack.start_redis()
    worker = stack.start_worker(**short)
    message = commit_probe(note="worker killed", hold_seconds=2)
    assert stack.relay_once().returncode == 0
    wait_until(lambda: running_now(message.pk), timeout=30, what="the task to start")
    started = time.monotonic()
    kill_group(worker)  # main process and pool child together: nothing acknowledges or rejects

    wait_until(lambda: not running_now(message.pk), timeout=10, what="the killed run's transaction to end")
    assert not finished(message.pk)  # its work rolled back with the connection
    assert queued_messages(stack.redis_url) == []  # held as unacknowledged, not lost
    time.sleep(max(0.0, 8 + 1 - (time.monotonic() - started)))
    stack.start_worker(**short)
    wait_until(lambda: finished(message.pk), timeout=60, what="the new worker to run the restored task")
    assert execution_of(message.pk).runs == 1
