"""Mixed load against the whole system (issue 32 §2): gunicorn -w 2, a Celery worker and the
outbox relay on a scratch database with the demo study, driven for a bounded time by a scripted
client in this process (loopback only):

- coordinators (default 20) enter vital signs, CRS assessments and lab results for their own
  infused subjects through the API, and correct their own vital signs with If-Match
  (412 answers are counted apart);
- monitors (default 5) read subject lists and forms and raise queries on the coordinators' forms;
- statisticians (default 2) request endpoint runs and exports and wait for them.

Afterwards it checks that every acknowledged save is in the database with its audit row (rows
and insert events equal the 201 answers) and that every requested job finished, and prints per
kind of request: count, errors, 412s, p50/p95/p99 and throughput. Exit 1 on any error or loss.

    .venv/bin/python bench/load.py [--seconds 300] [--coordinators 20] [--monitors 5] \
        [--statisticians 2] [--database trialsite_load] [--port 8795] [--json artifacts/load.json]

DATABASE_URL names the PostgreSQL server (default 127.0.0.1:5432, user postgres); the database
is created, migrated and given the demo study when it has none. REDIS_URL (default
redis://127.0.0.1:6379/13) is the broker. Nothing but loopback is contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, child_env, ensure_database, has_study, manage, setup_django

ROLE_PREFIX = "load"
PASSWORD = "Load-Bench-2026!"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    created: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    updated: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    queries: list[int] = field(default_factory=list)
    jobs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1


class Client:
    """One keep-alive HTTP connection per simulated person, with their API token."""

    def __init__(self, port: int, token: str, stats: Stats) -> None:
        self.port, self.token, self.stats = port, token, stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, kind: str, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Token {self.token}", "Host": "localhost", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.stats.record(kind, 599, time.perf_counter() - started)
            with self.stats.lock:
                self.stats.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return 599, {}, None
        elapsed = time.perf_counter() - started
        self.stats.record(kind, response.status, elapsed)
        expected_error = response.status == 412
        if response.status >= 400 and not expected_error:
            with self.stats.lock:
                self.stats.errors.append(f"{kind}: {response.status} {payload[:300]!r}")
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {}
        return response.status, parsed, response.getheader("ETag")


def coordinator_loop(client: Client, subjects: list[tuple[int, date]], stop: threading.Event, seed: int) -> None:
    rng = random.Random(f"{seed}-{time.time_ns()}")  # another run picks other times: no collision with its rows
    today = date.today()
    mine: list[int] = []
    minute = rng.randint(0, 1439)
    while not stop.is_set():
        subject, day0 = rng.choice(subjects)
        span = max(0, min((today - day0).days, 90))
        when = day0 + timedelta(days=rng.randint(0, span))
        minute += 1  # each coordinator owns its subjects: a new time per save never collides
        at = f"{(minute // 60) % 24:02d}:{minute % 60:02d}:{rng.randint(0, 59):02d}"
        roll = rng.random()
        if roll < 0.45 or (roll > 0.9 and not mine):
            status, body, _etag = client.call(
                "save vital signs",
                "POST",
                "/api/v1/vital-signs/",
                {
                    "subject": subject,
                    "assessment_date": when.isoformat(),
                    "assessment_time": at,
                    "temperature_c": f"{rng.uniform(36.2, 39.5):.1f}",
                    "systolic_bp": rng.randint(85, 140),
                    "diastolic_bp": rng.randint(50, 80),
                    "heart_rate": rng.randint(60, 130),
                },
            )
            if status == 201:
                mine.append(body["id"])
                with client.stats.lock:
                    client.stats.created["labs_vitalsigns"].append(body["id"])
        elif roll < 0.65:
            status, body, _etag = client.call(
                "save CRS assessment",
                "POST",
                "/api/v1/crs-assessments/",
                {
                    "subject": subject,
                    "assessment_date": when.isoformat(),
                    "assessment_time": at,
                    "tmax_c": f"{rng.uniform(37.5, 39.8):.1f}",
                    "oxygen_device": "room_air",
                },
            )
            if status == 201:
                with client.stats.lock:
                    client.stats.created["adverse_events_crsassessment"].append(body["id"])
        elif roll < 0.9:
            status, body, _etag = client.call(
                "save lab result",
                "POST",
                "/api/v1/lab-results/",
                {
                    "subject": subject,
                    "collected_on": when.isoformat(),
                    "collected_time": at,
                    "panel": "CBC",
                    "analyte": "ANC",
                    "value": f"{rng.uniform(0.1, 4.0):.2f}",
                    "unit": "10^9/L",
                },
            )
            if status == 201:
                with client.stats.lock:
                    client.stats.created["labs_labresult"].append(body["id"])
        else:
            vs = rng.choice(mine)
            url = f"/api/v1/vital-signs/{vs}/"
            _status, _body, etag = client.call("read vital signs", "GET", url)
            status, _body, _etag = client.call(
                "correct vital signs",
                "PATCH",
                url,
                {"heart_rate": rng.randint(60, 130), "reason": "transcription error corrected"},
                {"If-Match": etag or ""},
            )
            if status == 200:
                with client.stats.lock:
                    client.stats.updated[vs] += 1
        stop.wait(rng.uniform(0.3, 1.2))


def monitor_loop(client: Client, stats: Stats, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        client.call("list subjects", "GET", "/api/v1/subjects/")
        client.call("list vital signs", "GET", "/api/v1/vital-signs/?limit=50")
        with stats.lock:
            forms = list(stats.created["labs_vitalsigns"])
        if forms and rng.random() < 0.4:
            status, body, _etag = client.call(
                "raise query",
                "POST",
                "/api/v1/queries/",
                {"form": "VS", "form_id": rng.choice(forms), "field_name": "systolic_bp", "text": "Check source."},
            )
            if status == 201:
                with stats.lock:
                    stats.queries.append(body["id"])
        stop.wait(rng.uniform(1.0, 3.0))


def statistician_loop(client: Client, stats: Stats, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    stop.wait(rng.uniform(2, 10))
    kinds = ("endpoint-runs", "exports")
    turn = seed % 2
    while not stop.is_set():
        resource = kinds[turn % 2]
        turn += 1
        status, body, _etag = client.call(
            f"request {resource}", "POST", f"/api/v1/{resource}/", {"cutoff_date": date.today().isoformat()}
        )
        if status in (201, 202):
            with stats.lock:
                stats.jobs[resource].append(body["id"])
        stop.wait(rng.uniform(20, 40))


def _users_and_subjects(args: argparse.Namespace) -> tuple[dict[str, list[str]], list[tuple[int, date]]]:
    """Create the bench users with tokens (idempotent) and list the infused demo subjects."""
    from django.utils import timezone
    from knox.models import AuthToken

    from study.models import Membership, Site, User
    from subjects.models import Subject

    site = Site.objects.get(code="01", study__code="cd7-cart-01")
    tokens: dict[str, list[str]] = defaultdict(list)
    for role, count in (
        ("coordinator", args.coordinators),
        ("monitor", args.monitors),
        ("statistician", args.statisticians),
    ):
        for n in range(1, count + 1):
            user, created = User.objects.get_or_create(
                username=f"{ROLE_PREFIX}_{role}_{n:02d}", defaults={"email": f"{role}{n}@example.org"}
            )
            if created:
                user.set_password(PASSWORD)
                user.save()
                Membership.objects.create(user=user, site=site, role=role, granted_at=timezone.now())
            _token, plain = AuthToken.objects.create(user=user)
            tokens[role].append(plain)
    infused = list(
        Subject.objects.filter(site=site, infusion_date__isnull=False).order_by("pk").values_list("pk", "infusion_date")
    )
    return tokens, infused


def _counts(created: dict[str, list[int]]) -> dict[str, tuple[int, int, int]]:
    """(acknowledged, rows found, insert events found) per table."""
    from django.db import connection

    result = {}
    with connection.cursor() as cursor:
        for table, ids in created.items():
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE id = ANY(%s)', [ids])
            rows = cursor.fetchone()[0]
            cursor.execute(
                f'SELECT count(*) FROM "{table}event" WHERE pgh_label = %s AND pgh_obj_id = ANY(%s)',
                ["insert", ids],
            )
            events = cursor.fetchone()[0]
            result[table] = (len(ids), rows, events)
    return result


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--coordinators", type=int, default=20)
    parser.add_argument("--monitors", type=int, default=5)
    parser.add_argument("--statisticians", type=int, default=2)
    parser.add_argument("--database", default="trialsite_load")
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "load.json"))
    parser.add_argument("--job-wait", type=int, default=600, help="seconds to wait for requested jobs afterwards")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")

    print(f"preparing {args.database} …", flush=True)
    ensure_database(args.database)
    manage(args.database, "setup_database")
    if not has_study(args.database, "cd7-cart-01"):
        manage(args.database, "load_demo_study", "--with-demo-accounts")
    env = child_env(args.database)
    os.environ["DATABASE_URL"] = env["DATABASE_URL"]
    setup_django()
    tokens, subjects = _users_and_subjects(args)
    if not subjects:
        print("the demo study has no infused subject", file=sys.stderr)
        return 1

    from trialsite.launcher import app_role_url

    serve_env = dict(env)
    serve_env["DATABASE_URL"] = app_role_url(env["DATABASE_URL"], os.environ.get("DB_APP_ROLE", "trialsite_app"))
    bin_dir = Path(sys.executable).parent
    processes = [
        subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "trialsite.wsgi",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{args.port}",
                "--timeout",
                "120",
            ],
            cwd=ROOT,
            env=serve_env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [str(bin_dir / "celery"), "-A", "trialsite", "worker", "-c", "1", "-l", "warning"],
            cwd=ROOT,
            env=serve_env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "outbox_relay"],
            cwd=ROOT,
            env=serve_env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    stats = Stats()
    try:
        for _ in range(120):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
                probe.request("GET", "/accounts/login/", headers={"Host": "localhost"})
                probe.getresponse().read()
                break
            except OSError:
                time.sleep(0.5)
        stop = threading.Event()
        threads = []
        for n, token in enumerate(tokens["coordinator"]):
            own = [s for i, s in enumerate(subjects) if i % len(tokens["coordinator"]) == n] or [
                subjects[n % len(subjects)]
            ]
            threads.append(
                threading.Thread(target=coordinator_loop, args=(Client(args.port, token, stats), own, stop, 100 + n))
            )
        for n, token in enumerate(tokens["monitor"]):
            threads.append(
                threading.Thread(target=monitor_loop, args=(Client(args.port, token, stats), stats, stop, 200 + n))
            )
        for n, token in enumerate(tokens["statistician"]):
            threads.append(
                threading.Thread(target=statistician_loop, args=(Client(args.port, token, stats), stats, stop, 300 + n))
            )
        load_before = os.getloadavg()
        print(f"running {len(threads)} simulated users for {args.seconds} s on 127.0.0.1:{args.port} …", flush=True)
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*load_before), flush=True)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        stop.wait(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=180)
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()

        from endpoints.models import EndpointRun
        from exports.models import Export

        deadline = time.monotonic() + args.job_wait
        models = {"endpoint-runs": EndpointRun, "exports": Export}
        pending: dict[str, int] = {}
        while time.monotonic() < deadline:
            pending = {
                kind: models[kind].objects.filter(pk__in=ids).exclude(status__in=("succeeded", "failed")).count()
                for kind, ids in stats.jobs.items()
            }
            if not any(pending.values()):
                break
            time.sleep(3)
        failed_jobs = {
            kind: models[kind].objects.filter(pk__in=ids, status="failed").count() for kind, ids in stats.jobs.items()
        }
        counts = _counts(stats.created)
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    print(f"\n{'request':24} {'n':>6} {'err':>5} {'412':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}")
    report = {
        "seconds": round(elapsed, 1),
        # the machine may be shared: the 1/5/15-minute load averages when the load started and ended
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in load_after]},
        "kinds": {},
        "tables": {},
        "jobs": {},
    }
    for kind in sorted(stats.latencies):
        values = stats.latencies[kind]
        codes = stats.statuses[kind]
        errors = sum(n for code, n in codes.items() if code >= 400 and code != 412)
        row = {
            "n": len(values),
            "errors": errors,
            "412": codes.get(412, 0),
            "p50_ms": round(statistics.median(values) * 1000),
            "p95_ms": round(_percentile(values, 0.95) * 1000),
            "p99_ms": round(_percentile(values, 0.99) * 1000),
            "per_s": round(len(values) / elapsed, 2),
        }
        report["kinds"][kind] = row
        print(
            f"{kind:24} {row['n']:>6} {row['errors']:>5} {row['412']:>5} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['p99_ms']:>8} {row['per_s']:>7}"
        )
    print(f"\n{'table':32} {'acknowledged':>12} {'rows':>6} {'audit inserts':>14}")
    lost = 0
    for table, (acknowledged, rows, events) in sorted(counts.items()):
        print(f"{table:32} {acknowledged:>12} {rows:>6} {events:>14}")
        report["tables"][table] = {"acknowledged": acknowledged, "rows": rows, "audit_inserts": events}
        lost += (acknowledged - rows) + (acknowledged - events)
    for kind, ids in stats.jobs.items():
        report["jobs"][kind] = {
            "requested": len(ids),
            "unfinished": pending.get(kind, 0),
            "failed": failed_jobs.get(kind, 0),
        }
        print(
            f"jobs {kind}: {len(ids)} requested, {pending.get(kind, 0)} unfinished, {failed_jobs.get(kind, 0)} failed"
        )
    errors = sum(row["errors"] for row in report["kinds"].values())
    print(f"\nerrors: {errors}; acknowledged saves missing a row or an audit row: {lost}; elapsed {elapsed:.0f} s")
    print("load average at the end of the load: {:.2f} {:.2f} {:.2f}".format(*load_after))
    for line in stats.errors[:10]:
        print("  ", line)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    unfinished = sum(pending.values()) + sum(failed_jobs.values())
    return 0 if errors == 0 and lost == 0 and unfinished == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
