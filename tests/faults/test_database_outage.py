"""PostgreSQL stopped for 10 s under a running data-entry load (issue 32 §1), with real
processes: a private PostgreSQL on a free port (tests/faults/_postgres.py) holding a copy of
the suite's migrated test database with the application role granted as `setup_database` does
(migrating from scratch takes minutes on a loaded machine), gunicorn -w 2 connected as the app
role, and client threads POSTing vital signs through the API with a real token while the server
is stopped (`pg_ctl stop -m fast`, which also breaks the connections of requests in flight),
kept down 10 s and started again.

Every answer is 201 or 503 (never a 500, never anything else); 503s come only between the stop
and 2 s after the server is back; afterwards every acknowledged save is in the database with
exactly one audit insert, no request left a row without acknowledging it, and none left two.
Each attempt carries its own assessment time, so its rows are found whatever it was answered.

On the same stack: gunicorn's workers SIGKILLed while a create is in flight, the client retrying
with the same `Idempotency-Key` until it gets an answer, saves the record exactly once."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
import pytest

from tests.conftest import PROJECT_DIR, VENV_BIN, stop_process, subprocess_env, wait_for_port
from tests.crf.test_outbox import wait_until
from tests.faults._postgres import PrivatePostgres

pytestmark = [pytest.mark.slow, pytest.mark.req("ISSUE-32"), pytest.mark.timeout(300)]

DATABASE = "trialsite_faults"
OUTAGE_SECONDS = 10
GRACE_SECONDS = 2
CLIENTS = 4
ASSESSED_ON = "2026-03-12"

GRANT = """
import os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
django.setup()
from django.db import connection
from crf.dbroles import ensure_app_role
ensure_app_role(connection, None)
"""

SEED = """
import json, os
from datetime import date
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
django.setup()
from django.utils import timezone
from knox.models import AuthToken
from study.models import Membership, Site, Study, User
from subjects.services import subject as services
from subjects.lifecycle import Event
from tests.api.conftest import ASSESSED, CONSENTED, ELIGIBLE, ENROLLED, LYMPHODEPLETED
from tests.factories import demo_schedule, protocol_v1

study = Study.objects.create(code="faults", title="Fault study", registry_id="NCT00000032", phase="I")
protocol_v1(study)
demo_schedule(study)
site = Site.objects.create(study=study, code="01", name="Site A", subject_prefix="A", default_language="en")
user = User.objects.create_user(username="coordinator_faults", email="c@example.org", password="Faults-2026-pw!")
Membership.objects.create(user=user, site=site, role="coordinator", granted_at=timezone.now())
subject = services.record_consent(user=user, site=site, consent_version="1.0", consent_date=CONSENTED)
services.record_eligibility(
    user=user, subject=subject, protocol_version="2.1", assessment_date=ASSESSED, criteria=ELIGIBLE
)
subject = services.enrol(user=user, subject=subject, on=ENROLLED, dose_level="DL1")
subject = services.change_status(user=user, subject=subject, event=Event.LYMPHODEPLETE, on=LYMPHODEPLETED)
_token, plain = AuthToken.objects.create(user=user)
print(json.dumps({"token": plain, "subject": subject.pk}))
"""


@dataclass
class Attempt:
    time_of_day: str
    sent: float
    answered: float = 0.0
    status: int = 0  # 0: no HTTP answer (connection refused or reset)
    record_id: int | None = None


@dataclass
class Stack:
    postgres: PrivatePostgres
    port: int
    token: str
    subject: int
    gunicorn: subprocess.Popen


@pytest.fixture
def stack(db, private_redis) -> Iterator[Stack]:
    from django.db import connections

    from conftest import _credentials

    source = {**connections["default"].settings_dict}
    source["USER"], source["PASSWORD"] = _credentials["owner"]
    postgres = PrivatePostgres()
    gunicorn: subprocess.Popen | None = None
    try:
        postgres.start()
        postgres.copy_database(source, DATABASE)
        owner = subprocess_env(DATABASE_URL=postgres.url(DATABASE), REDIS_URL=str(private_redis["url"]))
        owner.pop("DJANGO_DEBUG", None)
        subprocess.run([sys.executable, "-c", GRANT], cwd=PROJECT_DIR, env=owner, check=True, timeout=120)
        seeded = subprocess.run(
            [sys.executable, "-c", SEED], cwd=PROJECT_DIR, env=owner, check=True, timeout=120, capture_output=True
        )
        seed = json.loads(seeded.stdout.decode().strip().splitlines()[-1])
        from tests.conftest import free_port

        port = free_port()
        app = {
            **owner,
            "DATABASE_URL": postgres.url(DATABASE, user="trialsite_app"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "DB_CONNECT_TIMEOUT": "2",
            "LOG_LEVEL": "WARNING",
        }
        gunicorn = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "trialsite.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "60"],
            cwd=PROJECT_DIR,
            env=app,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, timeout=30)
        yield Stack(postgres, port, seed["token"], seed["subject"], gunicorn)
    finally:
        if gunicorn is not None:
            stop_process(gunicorn, timeout=15)
        postgres.close()


def client_loop(stack: Stack, number: int, attempts: list[Attempt], lock: threading.Lock, stop: threading.Event):
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    n = 0
    while not stop.is_set():
        seconds = number * 20000 + n  # each attempt its own time of day: its rows are findable
        n += 1
        attempt = Attempt(f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", time.monotonic())
        body = {
            "subject": stack.subject,
            "assessment_date": ASSESSED_ON,
            "assessment_time": attempt.time_of_day,
            "temperature_c": "37.0",
            "systolic_bp": 120,
            "heart_rate": 80,
        }
        headers = {"Authorization": f"Token {stack.token}", "Content-Type": "application/json", "Accept-Language": "en"}
        try:
            conn.request("POST", "/api/v1/vital-signs/", body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            payload = response.read()
            attempt.status = response.status
            if response.status == 201:
                attempt.record_id = json.loads(payload)["id"]
            elif response.status != 503:
                print(f"unexpected {response.status}: {payload[:500]!r}", flush=True)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
        attempt.answered = time.monotonic()
        with lock:
            attempts.append(attempt)
        stop.wait(0.05)
    conn.close()


def rows_by_time(stack: Stack) -> tuple[Counter[str], dict[int, int]]:
    """Rows per assessment time, and audit insert events per acknowledged record id."""
    conn = psycopg2.connect(stack.postgres.url(DATABASE))
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT assessment_time::text FROM labs_vitalsigns WHERE subject_id = %s AND assessment_date = %s",
                [stack.subject, ASSESSED_ON],
            )
            rows = Counter(row[0] for row in cursor.fetchall())
            cursor.execute(
                "SELECT pgh_obj_id, count(*) FROM labs_vitalsignsevent WHERE pgh_label = 'insert' GROUP BY pgh_obj_id"
            )
            inserts = {int(obj): count for obj, count in cursor.fetchall()}
    finally:
        conn.close()
    return rows, inserts


def test_postgres_stopped_for_10_seconds_under_load_answers_503_and_loses_nothing(stack):
    attempts: list[Attempt] = []
    lock = threading.Lock()
    stop = threading.Event()
    threads = [
        threading.Thread(target=client_loop, args=(stack, n, attempts, lock, stop), daemon=True) for n in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        # under way: both gunicorn workers warmed up and every client saving (first requests are slow)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len([a for a in attempts if a.status == 201]) < 4 * CLIENTS:
            time.sleep(0.2)
        outage_began = time.monotonic()
        stack.postgres.stop("fast")
        time.sleep(OUTAGE_SECONDS)
        stack.postgres.start()
        back_at = time.monotonic()
        time.sleep(8)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=70)

    statuses = Counter(a.status for a in attempts)
    rows, inserts = rows_by_time(stack)
    acknowledged = [a for a in attempts if a.status == 201]
    lost = [a for a in acknowledged if rows[a.time_of_day] != 1 or inserts.get(a.record_id or 0) != 1]
    duplicated = [t for t, count in rows.items() if count > 1]
    unacknowledged_rows = [a for a in attempts if a.status != 201 and rows[a.time_of_day]]
    late_503 = [a for a in attempts if a.status == 503 and not outage_began <= a.answered <= back_at + GRACE_SECONDS]
    print(
        f"\nFAULT postgres-stopped-{OUTAGE_SECONDS}s: attempted={len(attempts)} committed={sum(rows.values())} "
        f"answered={sum(statuses.values()) - statuses[0]} (201={statuses[201]} 503={statuses[503]} "
        f"other={sum(c for s, c in statuses.items() if s not in (0, 201, 503))} no-answer={statuses[0]}) "
        f"lost={len(lost)} duplicated={len(duplicated)} unacknowledged-rows={len(unacknowledged_rows)} "
        f"503-outside-outage={len(late_503)} restart={back_at - outage_began:.1f}s",
        flush=True,
    )
    timeline = [(round(a.sent - outage_began, 1), round(a.answered - outage_began, 1), a.status) for a in attempts]
    assert set(statuses) <= {201, 503}, (statuses, timeline)
    assert statuses[503] > 0, timeline  # the outage was seen
    assert statuses[201] > 20  # before and after it saves went through
    assert late_503 == []
    assert lost == [] and duplicated == [] and unacknowledged_rows == []
    assert sum(rows.values()) == statuses[201]
    assert sum(inserts.values()) == statuses[201]
    # after the outage saves succeed again
    assert any(a.status == 201 and a.sent > back_at + GRACE_SECONDS for a in attempts)


KILLS = 6


def post_vitals(stack: Stack, time_of_day: str, key: str, timeout: float = 60) -> tuple[int, dict]:
    body = {
        "subject": stack.subject,
        "assessment_date": ASSESSED_ON,
        "assessment_time": time_of_day,
        "temperature_c": "36.8",
        "systolic_bp": 115,
        "heart_rate": 72,
    }
    headers = {
        "Authorization": f"Token {stack.token}",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
    }
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=timeout)
    try:
        conn.request("POST", "/api/v1/vital-signs/", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def gunicorn_workers(stack: Stack) -> list[int]:
    pid = stack.gunicorn.pid
    return [int(child) for child in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def test_gunicorn_workers_killed_mid_create_the_retry_with_the_same_key_saves_once(stack):
    # warm both workers up (a fresh worker's first request is slow)
    assert post_vitals(stack, "23:59:00", "warm-up-1")[0] == 201
    assert post_vitals(stack, "23:59:01", "warm-up-2")[0] == 201
    outcomes, held_outcomes = [], []
    for n in range(KILLS):
        time_of_day, key = f"12:00:{n:02d}", f"faults-kill-{n}"
        first: list[int | None] = []
        held = n % 2 == 0
        blocker = hold_vitals_inserts(stack) if held else None
        try:
            thread = threading.Thread(target=_first_try, args=(stack, time_of_day, key, first))
            thread.start()
            orphan = None
            if blocker is not None:
                # deterministic: the request is inside its transaction, its INSERT waiting on our lock
                orphan = wait_for_blocked_insert(stack, blocker)
            else:
                time.sleep(0.03 * n)  # timing: the kill lands before, during or after the request
            workers = gunicorn_workers(stack)
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
        finally:
            if blocker is not None:
                blocker.rollback()  # the orphaned backend's INSERT runs, then it finds its client gone
                blocker.close()
        thread.join(timeout=70)
        if orphan is not None:
            wait_for_backend_gone(stack, orphan)  # it has ended its transaction: count what it left
        committed_before_retry = rows_by_time(stack)[0][time_of_day]
        retries, answer = 0, (0, {})
        deadline = time.monotonic() + 90
        while answer[0] != 201 and time.monotonic() < deadline:
            retries += 1
            try:
                answer = post_vitals(stack, time_of_day, key)
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
        outcomes.append((first[0], committed_before_retry, retries, answer))
        if held:
            held_outcomes.append((first[0], committed_before_retry))

    rows, inserts = rows_by_time(stack)
    ids = [answer[1].get("id") for *_, answer in outcomes]
    no_answer = sum(1 for first, *_ in outcomes if first is None)
    lost = sum(1 for n in range(KILLS) if rows[f"12:00:{n:02d}"] == 0)
    duplicated = sum(1 for n in range(KILLS) if rows[f"12:00:{n:02d}"] > 1)
    print(
        f"\nFAULT gunicorn-workers-killed-mid-create x{KILLS}: attempted={KILLS} "
        f"committed={sum(rows[f'12:00:{n:02d}'] for n in range(KILLS))} "
        f"answered={sum(1 for *_, a in outcomes if a[0] == 201)} first-try-unanswered={no_answer} "
        f"unanswered-but-committed={sum(1 for f, c, _, _ in outcomes if f is None and c)} "
        f"retries={sum(r for _, _, r, _ in outcomes)} lost={lost} duplicated={duplicated}",
        flush=True,
    )
    assert [answer[0] for *_, answer in outcomes] == [201] * KILLS, outcomes
    assert lost == 0 and duplicated == 0
    assert all(inserts.get(pk) == 1 for pk in ids)
    # the kills made while the INSERT waited on a lock landed mid-transaction: no answer, nothing
    # committed before the retry (the timed kills may land anywhere, so only their outcome counts)
    assert held_outcomes == [(None, 0)] * (KILLS // 2), held_outcomes
    assert no_answer >= KILLS // 2
    assert {first for first, *_ in outcomes} <= {None, 201}


def hold_vitals_inserts(stack: Stack):
    """A connection holding a lock that makes every vital-signs INSERT wait (SELECTs go on)."""
    conn = psycopg2.connect(stack.postgres.url(DATABASE))
    with conn.cursor() as cursor:
        cursor.execute("LOCK TABLE labs_vitalsigns IN SHARE ROW EXCLUSIVE MODE")
    return conn


def wait_for_blocked_insert(stack: Stack, blocker, timeout: float = 60) -> int:
    """The backend pid of the request whose INSERT waits on `blocker`'s lock."""
    with blocker.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        holder = cursor.fetchone()[0]
    blocked = (
        "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid)) AND query ILIKE '%%labs_vitalsigns%%'"
    )
    with activity(stack) as cursor:
        row = wait_until(
            lambda: cursor.execute(blocked, [holder]) or cursor.fetchone(),
            timeout=timeout,
            what="the create's INSERT to wait on the lock",
            interval=0.02,
        )
    return int(row[0])


def wait_for_backend_gone(stack: Stack, pid: int, timeout: float = 30) -> None:
    with activity(stack) as cursor:
        wait_until(
            lambda: not (cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]) or cursor.fetchone()),
            timeout=timeout,
            what=f"the killed request's backend {pid} to end",
            interval=0.05,
        )


@contextmanager
def activity(stack: Stack) -> Iterator[Any]:
    """A cursor on an autocommit connection, to watch pg_stat_activity."""
    watcher = psycopg2.connect(stack.postgres.url(DATABASE))
    watcher.autocommit = True
    try:
        with watcher.cursor() as cursor:
            yield cursor
    finally:
        watcher.close()


def _first_try(stack: Stack, time_of_day: str, key: str, first: list[int | None]) -> None:
    try:
        first.append(post_vitals(stack, time_of_day, key)[0])
    except (OSError, http.client.HTTPException):
        first.append(None)
