"""Write path side by side with the bare-insert peer (issue 22): throughput, p50/p99 and the
ratio to the peer for the vital-signs, CRS-assessment, lab-result and AE saves over the API, a
1,000-row vital-signs CSV import, and the CRS save time at 10 and at 120 assessments per subject.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/write_path.py [--seconds 10]

Both servers run under gunicorn -w 2 on loopback (peer 127.0.0.1:8791, project :8790) against
the same PostgreSQL server, each in a scratch database of its own (`<prefix>_peer`, and
`<prefix>` with the demo study loaded); wrk -t2 -c20 drives them in turn (bench/peer/). Targets:
VS >= 20% of the peer, CRS >= 10%, p99 <= 300 ms, 0 errors; CRS at 120 <= 1.3x at 10; import < 5 s.
The machine may be shared: figures move from run to run, the ratio to the peer is what counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import ROOT, child_env, database_url, ensure_database, has_study, manage, setup_django

PEER_DIR = ROOT / "bench" / "peer"
PEER_PORT, PROJECT_PORT = 8791, 8790


def prepare(study_code: str) -> None:
    """In the scratch database: a coordinator token and the infused subjects with their day 0."""
    setup_django()
    from knox.models import AuthToken

    from study.models import User
    from subjects.models import Subject

    user = User.objects.get(username="coordinator")
    _, token = AuthToken.objects.create(user)
    subjects = [
        f"{s.pk}:{s.infusion_date.isoformat()}"
        for s in Subject.objects.filter(infusion_date__isnull=False, site__study__code=study_code).order_by("pk")
    ]
    print(json.dumps({"token": token, "subjects": ",".join(subjects)}))


def crs_scaling(counts: list[int], repeat: int) -> None:
    """Median time of one CRS save (crf.services.save, in-process, DEBUG off) for a subject with
    `n` assessments (fever on days 1-2, one episode, as a subject in hospital), for each n; every
    save is rolled back, so each one sees the same n."""
    setup_django()
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from adverse_events.models import CrsAssessment
    from adverse_events.services import ae_crs_icans as services
    from crf.services import save
    from study.models import User
    from subjects.models import Subject

    user = User.objects.get(username="coordinator")
    result = {}
    for n in counts:
        times = []
        for _ in range(repeat + 1):
            with transaction.atomic():
                subject = Subject.objects.filter(infusion_date__isnull=False).order_by("pk").first()
                CrsAssessment.objects.filter(subject=subject).update(entered_in_error=True)  # rolled back
                now = timezone.now()
                CrsAssessment.objects.bulk_create(
                    CrsAssessment(
                        subject=subject,
                        assessment_date=subject.infusion_date + timedelta(days=1 + i // 3),
                        tmax_c=Decimal("38.6") if i < 6 else Decimal("37.2"),  # one episode, days 1-2
                        oxygen_device="room_air",
                        version=1,
                        created_by=user,
                        updated_by=user,
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(n)
                )
                services.rederive_crs_course(user=user, subject=subject, reason="re-derived: bench set-up")
                new = CrsAssessment(
                    subject=subject,
                    assessment_date=subject.infusion_date + timedelta(days=2 + n // 3),
                    tmax_c=Decimal("38.9"),
                    oxygen_device="room_air",
                )
                started = time.perf_counter()
                save(user=user, instance=new, expected_version=None)
                times.append((time.perf_counter() - started) * 1000)
                transaction.set_rollback(True)
        result[n] = statistics.median(times[1:])  # the first one warms caches
    print(json.dumps(result))


def wait_up(port: int, timeout: float = 120) -> None:
    """Wait until the server accepts connections (a TCP connect: the health page may be slow)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server on port {port} did not come up")


def warm_up(token: str) -> None:
    """Concurrent authenticated GETs, so both workers have imported the URLconf (scipy and all,
    several seconds on a loaded machine) and connected before anything is timed."""
    from concurrent.futures import ThreadPoolExecutor

    def get(_: int) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{PROJECT_PORT}/api/v1/subjects/", headers={"Authorization": f"Token {token}"}
        )
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=120).read()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(get, range(8)))


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def server_cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds of the server's processes (gunicorn's master and workers: the
    process group it was started in), read from /proc (Linux). On a loaded machine the CPU a
    request costs is a fairer measure than throughput, which also counts the time spent waiting
    for a core."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == server.pid:  # pgrp (stat field 5); utime, stime are fields 14, 15
            total += int(fields[11]) + int(fields[12])
    return total / tick


def run_wrk(url: str, script: Path, seconds: int, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", "-c20", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", str(script), url],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    socket = re.search(r"Socket errors: (.*)", text)
    if out.stderr.strip():
        print(out.stderr.strip()[:600], file=sys.stderr)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "errors": errors,
        "requests": requests,
        "socket": socket.group(1) if socket else "",
    }


#: the table one save of each kind inserts a row into (the peer's, and the project's per KIND)
TABLES = {
    "peer": "peer_assessment",
    "vs": "labs_vitalsigns",
    "crs": "adverse_events_crsassessment",
    "lab": "labs_labresult",
    "ae": "adverse_events_adverseevent",
}


def row_count(database: str, table: str) -> int:
    import psycopg2

    conn = psycopg2.connect(database_url(database))
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")  # a table name of TABLES
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


def settle(server: subprocess.Popen[bytes], limit: float = 180) -> None:
    """Wait until the server is idle (under 20 ms of CPU in a second): when wrk stops, the
    requests it left queued on its 20 connections are still served (gunicorn reads and runs
    each, then fails to write the answer), and their CPU belongs to this measure."""
    deadline = time.monotonic() + limit
    last = server_cpu_seconds(server)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = server_cpu_seconds(server)
        if now - last < 0.02:
            return
        last = now


def measured(
    server: subprocess.Popen[bytes], url: str, script: Path, seconds: int, env: dict[str, str], *, rows: tuple[str, str]
) -> dict[str, Any]:
    """`run_wrk`, plus the server's CPU milliseconds per request served: CPU time of its
    processes from before the run until it is idle again, over the rows the run inserted (one
    per save served, wrk's leftovers included; `rows` = database, table)."""
    settle(server)
    before, inserted = server_cpu_seconds(server), row_count(*rows)
    got = run_wrk(url, script, seconds, env)
    settle(server)
    got["served"] = row_count(*rows) - inserted
    got["cpu_ms"] = (server_cpu_seconds(server) - before) * 1000 / max(1, got["served"])
    return got


def vs_csv(subjects: list[tuple[int, date]], rows: int, *, start: int = 0) -> bytes:
    """A vital-signs CSV (crf.imports' columns) of `rows` rows spread over the subjects and their
    days 1-28, never after yesterday (a future date is refused, and refuses the whole file); row
    i is the `start + i`th of the sequence, so files built with another `start` differ.
    `bench/profile_save.py --kind import` imports the same file."""
    from crf.imports import columns
    from labs.models import VitalSigns
    from subjects.models import Subject

    header = columns(VitalSigns)
    codes = dict(Subject.objects.filter(pk__in=[pk for pk, _ in subjects]).values_list("pk", "subject_id"))
    yesterday = date.today() - timedelta(days=1)
    lines = [",".join(header)]
    for i in range(start, start + rows):
        pk, day0 = subjects[i % len(subjects)]
        on = min(day0 + timedelta(days=1 + (i // len(subjects)) % 28), yesterday)
        values = {
            "subject": codes[pk],
            "assessment_date": on.isoformat(),
            "assessment_time": f"{(i * 7) % 24:02d}:{(i * 13) % 60:02d}",
            "temperature_c": "37.1",
            "systolic_bp": "118",
            "diastolic_bp": "72",
            "heart_rate": "80",
            "spo2": "98",
            "oxygen_device": "room_air",
        }
        lines.append(",".join(values.get(name, "") for name in header))
    return ("\n".join(lines) + "\n").encode()


def csv_import(token: str, rows: int, subjects: str) -> tuple[float, int, str]:
    """POST a `rows`-row vital-signs CSV (`vs_csv`) to /api/v1/imports/VS/; seconds, status, outcome."""
    setup_django()
    pairs = [(int(s.split(":")[0]), date.fromisoformat(s.split(":")[1])) for s in subjects.split(",")]
    body_csv = vs_csv(pairs, rows)
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="vs.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + body_csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{PROJECT_PORT}/api/v1/imports/VS/",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Token {token}"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    except (urllib.error.URLError, TimeoutError) as exc:  # a loaded machine: report, do not crash
        status, text = 0, f"no answer: {exc}"
    elapsed = time.perf_counter() - started
    outcome = json.loads(text).get("outcome", text[:200]) if text.startswith("{") else text[:200]
    return elapsed, status, str(outcome) if status < 300 else f"{outcome} {text[:300]}"


#: gunicorn's access log line with `--service-times`: status and the request's time in the
#: worker in microseconds (from reading the request to the answer written: the wait in the
#: listen queue, behind the other connections, is not in it)
ACCESS_FORMAT = "%(s)s %(D)s"


def service_times(log: Path | None, start: int, *, skip: str = "") -> tuple[list[float], int]:
    """Milliseconds each request spent in a worker, from the access log's lines after byte
    `start` (but those answered with status `skip`: the warm-up's GETs, logged after their
    answer, may land after the offset taken when they returned); and the log's size now."""
    if log is None:
        return [], 0
    data = log.read_bytes()
    found = []
    for line in data[start:].decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != skip:
            found.append(int(parts[1]) / 1000)
    return found, len(data)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def serve(args: list[str], env: dict[str, str], cwd: Path, access_log: Path | None = None) -> subprocess.Popen[bytes]:
    logging = ["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT] if access_log else []
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", "2", *logging, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="trialsite_writebench", help="scratch database name")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per measure")
    parser.add_argument("--repeat", type=int, default=5, help="CRS saves per size (median)")
    parser.add_argument("--study", default="cd7-cart-01")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--crs-scaling", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--import-rows", type=int, default=1000)
    parser.add_argument("--import-only", nargs=2, metavar=("TOKEN", "SUBJECTS"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--service-times",
        metavar="DIR",
        help="write gunicorn's access logs here and print, per measure, the time requests spent in a worker "
        "(p50/p99/max): beside wrk's p99, whether the latency is queueing behind the 2 workers or time in the code",
    )
    args = parser.parse_args()
    if args.prepare:
        prepare(args.study)
        return
    if args.crs_scaling:
        crs_scaling([10, 120], args.repeat)
        return
    if args.import_only:
        print(json.dumps(csv_import(args.import_only[0], args.import_rows, args.import_only[1])))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    database, peer_db = args.prefix, f"{args.prefix}_peer"
    started = time.monotonic()
    ensure_database(database)
    if not has_study(database, args.study):
        manage(database, "load_demo_study", "--with-demo-accounts")
    ensure_database_only(peer_db)
    peer_env = {**os.environ, "PEER_DB": peer_db}
    subprocess.run([sys.executable, "peer.py", "migrate"], cwd=PEER_DIR, env=peer_env, check=False, capture_output=True)
    env = child_env(database)
    env["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    me = [sys.executable, str(Path(__file__).resolve())]
    prepared = json.loads(
        subprocess.run(
            [*me, "--prepare", "--study", args.study], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    print(f"set-up {time.monotonic() - started:.0f} s; {len(prepared['subjects'].split(','))} infused subjects")
    logs: list[Path | None] = [None, None]
    if args.service_times:
        Path(args.service_times).mkdir(parents=True, exist_ok=True)
        logs = [Path(args.service_times).resolve() / name for name in ("peer.log", "project.log")]
        for log in logs:
            log.write_bytes(b"")
    servers = [
        serve(["-b", f"127.0.0.1:{PEER_PORT}", "peer:app"], peer_env, PEER_DIR, logs[0]),
        # --timeout 300: the 1,000-row import is one request, slower than gunicorn's default 30 s here
        serve(
            ["-b", f"127.0.0.1:{PROJECT_PORT}", "--timeout", "300", "trialsite.wsgi:application"], env, ROOT, logs[1]
        ),
    ]
    in_worker: list[tuple[str, list[float]]] = []
    offsets = [0, service_times(logs[1], 0)[1]]
    try:
        wait_up(PEER_PORT)
        wait_up(PROJECT_PORT)
        warm_up(prepared["token"])
        wrk_env = {"TOKEN": prepared["token"], "SUBJECTS": prepared["subjects"]}
        offsets[1] = service_times(logs[1], 0)[1]  # after the warm-up's GETs
        peer = measured(
            servers[0],
            f"http://127.0.0.1:{PEER_PORT}/save/",
            PEER_DIR / "post.lua",
            args.seconds,
            {},
            rows=(peer_db, TABLES["peer"]),
        )
        times, offsets[0] = service_times(logs[0], offsets[0])
        in_worker.append(("peer insert", times))
        print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the start")
        print(
            f"{'measure':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'of peer':>9}"
            f"{'served':>8}{'CPU ms/req':>12}{'peer CPU/CPU':>14}"
        )
        print(
            f"{'peer insert':<14}{peer['rps']:>9.1f}{peer['p50']:>9.1f}{peer['p99']:>9.1f}{peer['errors']:>8}"
            f"{'':>9}{peer['served']:>8}{peer['cpu_ms']:>12.2f}"
        )
        for kind, label in (("vs", "VS save"), ("crs", "CRS save"), ("lab", "lab save"), ("ae", "AE save")):
            got = measured(
                servers[1],
                f"http://127.0.0.1:{PROJECT_PORT}",
                PEER_DIR / "write.lua",
                args.seconds,
                {**wrk_env, "KIND": kind},
                rows=(database, TABLES[kind]),
            )
            times, offsets[1] = service_times(logs[1], offsets[1], skip="200")  # a save answers 201
            in_worker.append((label, times))
            ratio = got["rps"] / peer["rps"] * 100
            print(
                f"{label:<14}{got['rps']:>9.1f}{got['p50']:>9.1f}{got['p99']:>9.1f}{got['errors']:>8}{ratio:>8.1f}%"
                f"{got['served']:>8}{got['cpu_ms']:>12.2f}{peer['cpu_ms'] / got['cpu_ms'] * 100:>13.1f}%"
                + (f"  socket errors: {got['socket']}" if got["socket"] else "")
            )
        print(f"load average {os.getloadavg()[0]:.1f} (1 min) after the saves")
        if args.service_times:
            print(f"{'in a worker':<14}{'answers':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
            for label, times in in_worker:
                print(
                    f"{label:<14}{len(times):>9}{_percentile(times, 0.5):>9.1f}{_percentile(times, 0.99):>9.1f}"
                    f"{max(times, default=0):>9.1f}"
                )
        imported = json.loads(
            subprocess.run(
                [*me, "--import-only", prepared["token"], prepared["subjects"], "--import-rows", str(args.import_rows)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        print(f"VS CSV import of {args.import_rows} rows: {imported[0]:.2f} s (HTTP {imported[1]}, {imported[2]})")
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)
    scaling = json.loads(
        subprocess.run(
            [*me, "--crs-scaling", "--repeat", str(args.repeat)], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    at10, at120 = scaling["10"], scaling["120"]
    print(f"CRS save at 10 assessments: {at10:.0f} ms; at 120: {at120:.0f} ms ({at120 / at10:.2f}x)")
    print(f"total {time.monotonic() - started:.0f} s")


def ensure_database_only(database: str) -> None:
    """Create an empty database (the peer's) when missing."""
    import psycopg2

    conn = psycopg2.connect(database_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{database}"')
    conn.close()


if __name__ == "__main__":
    main()
